"""The report of a sweep: ``summary.md`` (one row per point) and a PNG plot.

Both read only the content of ``sweep.json`` (`seqgrad.train.sweep.run_sweep`);
non-finite numbers there are JSON null (`seqgrad.jsonio`) and show as empty cells:
``{"points": [{"name", "overrides", "status", "eval", "spread", "seeds", "baseline",
"step", "wall_s", "batched", "error"}]}``, where ``eval`` holds the median over the
point's seeds and ``spread`` the ``[min, max]`` over them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from seqgrad import jsonio


def _num(x: Any) -> str:
    return "" if x is None else f"{x:.4g}" if isinstance(x, float) else str(x)


def _keys(records: Sequence[Mapping[str, Any]]) -> list[str]:
    keys: list[str] = []
    for r in records:
        keys += [k for k in r.get("overrides", {}) if k not in keys]
    return keys


def _metrics(records: Sequence[Mapping[str, Any]]) -> list[str]:
    metrics: list[str] = []
    for r in records:
        metrics += [m for m in r.get("eval") or {} if m not in metrics]
    return metrics


def write_summary(summary: Mapping[str, Any], path: str) -> str:
    """Write ``summary.md``: overrides, each eval metric as ``median [min, max]`` over seeds,
    the chance-level baseline, seeds, steps, wall time and status; returns the Markdown."""
    records = summary["points"]
    keys, metrics = _keys(records), _metrics(records)
    # Metrics equal on every point (the adding problem's loss is its MSE) share a column.
    same: dict[str, list[str]] = {}
    for m in metrics:
        twin = next((t for t in same if all((r.get("eval") or {}).get(t) == (r.get("eval") or {}).get(m) for r in records)), None)
        if twin is None:
            same[m] = [m]
        else:
            same[twin].append(m)
    metrics = list(same)
    header = ["#", *keys, *(f"{' = '.join(same[m])} median [min, max]" for m in metrics), "baseline", "seeds", "steps", "wall s", "status"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, r in enumerate(records):
        ov, ev, sp = r.get("overrides", {}), r.get("eval") or {}, r.get("spread") or {}
        cells = [str(i), *(_num(ov.get(k, "")) for k in keys)]
        for m in metrics:
            lo_hi = sp.get(m)
            cells.append(
                "" if m not in ev else f"{_num(ev[m])} [{_num(lo_hi[0])}, {_num(lo_hi[1])}]" if lo_hi else _num(ev[m])
            )
        base = r.get("baseline") or {}
        cells.append(", ".join(f"{k} {_num(v)}" for k, v in base.items() if isinstance(v, (int, float)) and k in same))
        wall = _num(r.get("wall_s")) + (" (shared)" if r.get("batched") and r.get("wall_s") is not None else "")
        status = r.get("status", "")
        if r.get("error"):
            status += ": " + str(r["error"]).replace("|", "/").replace("\n", " ")[:120]
        cells += [str(len(r.get("seeds") or [])), _num(r.get("step")), wall, status]
        lines.append("| " + " | ".join(cells) + " |")
    done = sum(r.get("status") == "done" for r in records)
    text = "\n".join(
        [
            "# Sweep summary",
            "",
            f"{done} of {len(records)} points done. Metrics are the median over seeds with [min, max];"
            " batched points share one run, whose wall time is marked (shared).",
            "",
            *lines,
            "",
        ]
    )
    jsonio.write_text(path, text)
    return text


def _varying(records: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> list[str]:
    """The override keys that take more than one value over the records."""
    return [k for k in keys if len({json.dumps(r["overrides"].get(k), default=str) for r in records}) > 1]


def _x_key(records: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> str | None:
    """A numeric override to plot along x: ``task.length``, else one with >= 3 values."""
    numeric = []
    for k in keys:
        vals = {r["overrides"].get(k) for r in records}
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            if k == "task.length" and len(vals) > 1 or len(vals) > 2:
                numeric.append((k != "task.length", -len(vals), k))
    return min(numeric)[2] if numeric else None


def _value(x: Any) -> str:
    """An override's value in a plot label: ``none`` for None (no clipping, no schedule), else as in the table."""
    return "none" if x is None else _num(x)


def _label(record: Mapping[str, Any], keys: Sequence[str]) -> str:
    """``"name=lstm, clip=global_norm, clip_value=0.5"``: the point's values of ``keys``, by their last
    part. A threshold ``<x>.clip_value`` is left out where the point's rule ``<x>.clip`` is none: it
    clips nothing, so ``clip=none`` reads alone."""
    overrides = record["overrides"]

    def applies(key: str) -> bool:
        rule = key.removesuffix("_value")
        return not (key.endswith(".clip_value") and rule in overrides and overrides[rule] in (None, "none"))

    return ", ".join(f"{k.rsplit('.', 1)[-1]}={_value(overrides.get(k))}" for k in keys if applies(k))


def plot_sweep(summary: Mapping[str, Any], path: str, metric: str | None = None) -> str | None:
    """Plot one eval metric (``loss`` by default) of the finished points to a PNG (`figure`).
    Returns the path, or None when no point has finished."""
    fig = figure(summary, metric)
    if fig is None:
        return None
    from seqgrad.report import figures

    return figures.save(fig, path, dpi=120)


def figure(summary: Mapping[str, Any], metric: str | None = None):
    """The sweep's figure of one eval metric (``loss`` by default); None when no point has finished.

    With ``task.length`` (or another numeric override with >= 3 values) swept: that
    on x, one line per combination of the other varying overrides. Otherwise grouped
    bars: one group per value of the first varying override, one bar per combination
    of the others. Error bars span [min, max] over seeds; the chance-level baseline
    is dashed. The legend stands beside the axes, where it hides no point.
    """
    from seqgrad.report import figures

    records = [r for r in summary["points"] if r.get("status") == "done" and r.get("eval")]
    if not records:
        return None
    metrics = _metrics(records)
    metric = metric or ("loss" if "loss" in metrics else metrics[0])
    records = [r for r in records if metric in r["eval"]]
    varying = _varying(records, _keys(records))
    x_key = _x_key(records, varying)
    fig = figures.new(8, 4.5)
    ax = fig.add_subplot()

    def y(r):
        return r["eval"][metric]

    def err(rs):
        spreads = [(r.get("spread") or {}).get(metric) or [y(r), y(r)] for r in rs]
        return [
            [max(y(r) - lo, 0.0) for r, (lo, _) in zip(rs, spreads)],
            [max(hi - y(r), 0.0) for r, (_, hi) in zip(rs, spreads)],
        ]

    def baseline(r):
        b = (r.get("baseline") or {}).get(metric)
        return b if isinstance(b, (int, float)) else None

    if x_key is not None:
        others = [k for k in varying if k != x_key]
        series: dict[str, list] = {}
        for r in records:
            series.setdefault(_label(r, others) or metric, []).append(r)
        if len(series) > 10:
            from matplotlib import colormaps

            ax.set_prop_cycle(color=colormaps["tab20"].colors)
        for label, rs in series.items():
            rs = sorted(rs, key=lambda r: r["overrides"][x_key])
            ax.errorbar([r["overrides"][x_key] for r in rs], [y(r) for r in rs], yerr=err(rs), marker="o", capsize=3, label=label)
        base = sorted({(r["overrides"][x_key], baseline(r)) for r in records if baseline(r) is not None})
        if base:
            ax.plot([x for x, _ in base], [b for _, b in base], "k--", label="chance level")
        ax.set_xlabel(x_key)
    else:
        group_key, others = (varying[0], varying[1:]) if varying else (None, [])
        groups: dict[str, list] = {}
        for r in records:
            groups.setdefault(_value(r["overrides"].get(group_key)) if group_key else "", []).append(r)
        bars = list(dict.fromkeys(_label(r, others) for r in records))
        width = 0.8 / max(len(bars), 1)
        for j, bar in enumerate(bars):
            xs, rs = [], []
            for gi, members in enumerate(groups.values()):
                for r in members:
                    if _label(r, others) == bar:
                        xs.append(gi + (j - (len(bars) - 1) / 2) * width)
                        rs.append(r)
            ax.bar(xs, [y(r) for r in rs], width, yerr=err(rs), capsize=2, label=bar or metric)
        ax.set_xticks(range(len(groups)), list(groups))
        ax.set_xlabel(group_key or "")
        levels = {baseline(r) for r in records} - {None}
        for b in levels:
            ax.axhline(b, color="k", linestyle="--", label="chance level" if b == min(levels) else None)
    if all(y(r) > 0 for r in records):
        ax.set_yscale("log")
    ax.set_ylabel(f"eval {metric} (median over seeds, bars: min-max)")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        fig.legend(fontsize=7, loc="outside right upper")
    return fig
