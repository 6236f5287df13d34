"""Markdown tables of the gradient-flow analysis: architectures, conditions, claims, dilution, zeros."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from seqgrad.gradflow import decay, spectra
from seqgrad.report.record import ClaimRow, Condition, EntryRecord, Stats


def _g(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}g}"


def _spread(stats: Stats) -> str:
    return f"{_g(stats.median)} [{_g(stats.q25)}, {_g(stats.q75)}]"


def _end_norm(e: EntryRecord) -> str:
    status = e.status[-1]
    if status == spectra.UNDERFLOW:
        f64 = e.jacobian_norm_float64
        return f"0 in float32 (underflow; float64: {_g(f64[-1])})" if f64 is not None else "0 (underflow)"
    if status == spectra.EXACT_ZERO:
        return "0 (exact)"
    return _g(e.jacobian_norm[-1])


def _horizon(h: Stats, T: int) -> str:
    if h.median >= T:
        return f"> {T - 1}"
    return f"{_g(h.median)} [{_g(h.q25)}, {'>' + str(T - 1) if h.q75 >= T else _g(h.q75)}]"


def _cell(text) -> str:
    """Escapes ``|`` so that text such as ``|λ|`` stays inside one table cell."""
    return str(text).replace("|", "\\|")


def _rate(e) -> str:
    """The regime's per-step rate (envelope of ‖J(d)‖, median profile) with its spread over sequences, the
    e-folding timescale, and the shape; a power law gives its exponent, a cut-off its d₀."""
    shape, rate = e.shape.get("shape"), e.shape.get("rate", float("nan"))
    spread = getattr(e, "regime_rate", None)
    text = f"{_g(rate)}" + (f" [{_g(spread.q25)}, {_g(spread.q75)}]" if spread is not None else "")
    timescale = e.shape.get("timescale", float("nan"))
    if isinstance(timescale, float) and math.isfinite(timescale) and timescale > 0:
        text += f", τ = {_g(timescale)}"
    text += f" ({shape}"
    if shape == decay.POWER_LAW:
        text += f", α = {_g(e.shape.get('power_law_exponent'))}"
    elif shape not in (decay.FLAT, decay.PERIODIC):
        text += f", r² {_g(e.shape.get('r2'), 2)}"
    if e.shape.get("cut_off_distance") is not None:
        text += f", exactly 0 from d = {e.shape['cut_off_distance']}"
    return text + ")"


def _predicted(e) -> str:
    """Theory's per-step rate (`seqgrad.gradflow.predictions`) and where it comes from; "–" where none applies."""
    prediction = getattr(e, "prediction", None)
    return "–" if not prediction else f"{_g(prediction['rate'])} ({prediction['source']})"


def _lyapunov(e: EntryRecord) -> str:
    """Top exponent [q25, q75]; or, where the tangent product was exactly singular, that and its counts."""
    singular = getattr(e, "lyapunov_singular", None)
    if singular:
        return (f"singular product: {singular['annihilations']} annihilated directions in "
                f"{singular['direction_steps']} direction-steps ({100 * singular['share']:.0f}%)")
    if e.lyapunov_top is None:
        return "n/a (no recurrence)"
    prediction = getattr(e, "prediction", None) or {}
    theory = f"; mean field {_g(prediction['lyapunov'])}" if "lyapunov" in prediction else ""
    return _spread(e.lyapunov_top) + (" (a plain RNN under a read-out)" if e.lyapunov_note else "") + theory


def architecture_table(results: Mapping[str, EntryRecord], T: int) -> str:
    """The page's table with measured columns at the default condition, one row per entry."""
    head = ("| entry | architecture (site) | page's path length | regime | rate / step [q25, q75], timescale (shape) | "
            "predicted rate | memory horizon (last d above) | ‖J(T−1)‖ | top Lyapunov exponent | parallelisable |")
    rows = [head, "|" + "---|" * 10]
    for name, e in results.items():
        trained = " (trained)" if getattr(e, "workdir", None) else ""
        rows.append(
            f"| {name}{trained} | {e.arch} ({e.site}) | {_cell(e.path_length)} | {e.regime} | {_cell(_rate(e))} | "
            f"{_cell(_predicted(e))} | {_horizon(e.memory_horizon, T)} | {_end_norm(e)} | {_lyapunov(e)} | "
            f"{e.parallel} |"
        )
    return "\n".join(rows)


def conditions_table(results: Mapping[str, EntryRecord], grid: Sequence[Condition]) -> str:
    """Regime and decay slope of every entry in every condition."""
    rows = ["| entry | " + " | ".join(c.label() for c in grid) + " |", "|---|" + "---|" * len(grid)]
    for name, e in results.items():
        cells = [f"{m.regime}, {_g(m.shape.get('rate', float('nan')))}" for m in e.conditions]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def spread_table(results: Mapping[str, EntryRecord]) -> str:
    """Decay rate at the default condition: spread over initialisations and over inputs apart."""
    rows = ["| entry | decay rate (median) | IQR over initialisations | IQR over inputs |", "|---|---|---|---|"]
    for name, e in results.items():
        r = e.decay_rate
        rows.append(f"| {name} | {_g(r.median)} | {_g(r.spread_over_inits)} | {_g(r.spread_over_inputs)} |")
    return "\n".join(rows)


def dilution_table(results: Mapping[str, EntryRecord], distances: Sequence[int], tolerance: float,
                   input_scale: float) -> str:
    """‖J(d)‖ at fixed d from the smallest to the largest T of the grid at ``input_scale``.

    Names a 1/T dilution where every ratio is within a factor ``tolerance`` of ``T_small / T_large``.
    """
    lines = ["| entry | " + " | ".join(f"d = {d}" for d in distances) + " | reading |",
             "|---|" + "---|" * (len(distances) + 1)]
    for name, e in results.items():
        at = sorted((m for m in e.conditions if m.condition.input_scale == input_scale), key=lambda m: m.T)
        if len(at) < 2:
            continue
        lo, hi = at[0], at[-1]
        cells, ratios = [], []
        for d in distances:
            a, b = lo.norm_at.get(str(d)), hi.norm_at.get(str(d))
            ratio = b / a if a and b is not None else float("nan")
            ratios.append(ratio)
            cells.append(f"{_g(a)} → {_g(b)} (×{_g(ratio)})")
        expected = lo.T / hi.T
        dilution = all(abs(math.log(r / expected)) <= math.log(tolerance) for r in ratios if r > 0) and any(
            r > 0 for r in ratios)
        reading = f"≈ 1/T dilution (T ratio {_g(expected)})" if dilution else "—"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {reading} |")
    return "\n".join(lines)


def claims_table(rows: Sequence[ClaimRow]) -> str:
    """One row per claim: claim, test, measurement at the default condition, refuted if, verdict."""
    out = ["| claim | test | measurement (default condition) | would be refuted by | verdict |",
           "|---|---|---|---|---|"]
    for row in rows:
        claim = row.claim if getattr(row, "on_page", True) else f"*(not on the page)* {row.claim}"
        cells = (_cell(x) for x in (claim, row.test, row.measurement, row.refuted_if))
        depends = f" on {', '.join(row.depends_on)}" if row.depends_on else ""
        out.append("| " + " | ".join(cells) + f" | **{row.verdict}**{depends} |")
    return "\n".join(out)


def verdict_matrix(rows: Sequence[ClaimRow], grid: Sequence[Condition]) -> str:
    """Claim × condition verdicts."""
    out = ["| claim | " + " | ".join(c.label() for c in grid) + " | overall |", "|---|" + "---|" * (len(grid) + 1)]
    for row in rows:
        cells = [v.verdict for v in row.by_condition]
        short = row.claim if len(row.claim) <= 60 else row.claim[:57] + "…"
        depends = f" ({', '.join(row.depends_on)})" if row.depends_on else ""
        out.append(f"| {_cell(short)} | " + " | ".join(cells) + f" | **{row.verdict}**{depends} |")
    return "\n".join(out)


def underflow_notes(results: Mapping[str, EntryRecord]) -> str:
    """One line per entry whose float32 norms read exactly zero (default condition)."""
    lines = []
    for name, e in results.items():
        d_u, d_z = e.first_underflow_distance, e.first_exact_zero_distance
        if d_u is not None:
            f64 = e.jacobian_norm_float64
            extra = "" if f64 is None else f" (float64 reads {_g(f64[d_u])} there)"
            lines.append(f"- `{name}`: float32 underflow from distance {d_u}{extra}; "
                         "those distances are reported as underflow, not as 0.")
        if d_z is not None:
            lines.append(f"- `{name}`: exactly 0 from distance {d_z} (structural, confirmed in float64).")
    return "\n".join(lines) if lines else "- none: every norm is a measured non-zero number."
