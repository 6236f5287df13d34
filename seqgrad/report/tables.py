"""Markdown tables of the gradient-flow analysis: the seed's architecture table, measured, and the claims."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from seqgrad.gradflow import spectra


def _g(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}g}"


def _spread(stats: Mapping[str, float]) -> str:
    return f"{_g(stats['median'])} [{_g(stats['q25'])}, {_g(stats['q75'])}]"


def _end_norm(e) -> str:
    status = e["status"][-1]
    if status == spectra.UNDERFLOW:
        f64 = e.get("jacobian_norm_float64")
        return f"0 in float32 (underflow; float64: {_g(f64[-1])})" if f64 is not None else "0 (underflow)"
    if status == spectra.EXACT_ZERO:
        return "0 (exact)"
    return _g(e["jacobian_norm"][-1])


def _horizon(e, T) -> str:
    h = e["memory_horizon"]
    if h["median"] >= T:
        return f"> {T - 1}"
    return f"{_g(h['median'])} [{_g(h['q25'])}, {'>' + str(T - 1) if h['q75'] >= T else _g(h['q75'])}]"


def _cell(text) -> str:
    """Escapes ``|`` so that text such as ``|λ|`` stays inside one table cell."""
    return str(text).replace("|", "\\|")


def _time(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs"


def architecture_table(results: Mapping[str, dict], T: int) -> str:
    """The seed's table with measured columns, one row per entry."""
    head = ("| entry | architecture (site) | seed's path length | decay rate / step [q25, q75] | factor / step | "
            "memory horizon | ‖∂h_(T-1)/∂h_0‖ | top Lyapunov exponent | fwd+bwd time / step | parallelisable |")
    rows = [head, "|" + "---|" * 10]
    for name, e in results.items():
        lyap = "n/a (no recurrence)" if e["lyapunov_top"] is None else _spread(e["lyapunov_top"])
        rows.append(
            f"| {name} | {e['arch']} ({e['site']}) | {_cell(e['path_length'])} | {_spread(e['decay_rate'])} | "
            f"{_g(e['decay_factor']['median'], 4)} | {_horizon(e, T)} | {_end_norm(e)} | {lyap} | "
            f"{_time(e['time_per_step_s'])} | {e['parallel']} |"
        )
    return "\n".join(rows)


def claims_table(rows: Sequence[Mapping[str, str]]) -> str:
    """One row per claim: claim, test, measurement, verdict."""
    out = ["| claim | test | measurement | verdict |", "|---|---|---|---|"]
    for row in rows:
        cells = (_cell(row[key]) for key in ("claim", "test", "measurement"))
        out.append("| " + " | ".join(cells) + f" | **{row['verdict']}** |")
    return "\n".join(out)


def underflow_notes(results: Mapping[str, dict]) -> str:
    """One line per entry whose float32 norms read exactly zero."""
    lines = []
    for name, e in results.items():
        d_u, d_z = e["first_underflow_distance"], e["first_exact_zero_distance"]
        if d_u is not None:
            f64 = e.get("jacobian_norm_float64")
            extra = "" if f64 is None else f" (float64 reads {_g(f64[d_u])} there)"
            lines.append(f"- `{name}`: float32 underflow from distance {d_u}{extra}; "
                         "those distances are reported as underflow, not as 0.")
        if d_z is not None:
            lines.append(f"- `{name}`: exactly 0 from distance {d_z} (structural, confirmed in float64).")
    return "\n".join(lines) if lines else "- none: every norm is a measured non-zero number."
