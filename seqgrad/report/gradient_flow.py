"""Writes the gradient-flow report: ``gradient_flow.json``, ``summary.md`` and the PNG plots."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping

import numpy as np

from seqgrad.report import claims, plots, tables

FILES = {
    "json": "gradient_flow.json",
    "summary": "summary.md",
    "norms": "jacobian_norm_vs_distance.png",
    "spectra": "singular_values_vs_distance.png",
    "decomposition": "weight_gradient_decomposition.png",
}


def to_json(value):
    """numpy arrays and scalars to lists and floats; nan and ±inf to None (strict JSON)."""
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return to_json(value.tolist())
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def summary_markdown(report: Mapping, rows) -> str:
    """``summary.md``: the measured architecture table, the claims with verdicts, underflow notes."""
    T, results = report["T"], report["architectures"]
    dtype = next(iter(results.values()))["dtype"] if results else "float32"
    return "\n\n".join([
        "# Gradient flow through time",
        f"T = {T}, H = {report['hidden_size']}, D = {report['input_size']}, {report['num_seeds']} seeds "
        f"(median [25th, 75th percentile]), {dtype}. Decay rate: least-squares slope of ln‖∂h_(T-1)/∂h_(T-1-d)‖₂ "
        "per step (negative: vanishing). Memory horizon: first d where the norm falls below "
        f"{report['config']['horizon_threshold']:g}·‖J(1)‖. Lyapunov exponents over "
        f"{report['config']['lyapunov']['T']} steps (QR method), nats per step.",
        "## Architectures",
        tables.architecture_table(results, T),
        "## The seed's claims",
        tables.claims_table(rows),
        "## Zeros",
        tables.underflow_notes(results),
        "## Plots",
        f"![Jacobian norm vs distance]({FILES['norms']})\n\n![singular values]({FILES['spectra']})\n\n"
        f"![weight-gradient decomposition]({FILES['decomposition']})",
    ]) + "\n"


def terminal_summary(report: Mapping, paths: Mapping[str, str]) -> str:
    """What the main job prints when it ends: the measured table, the verdicts and the files."""
    rows = report["claims"]
    verdicts = [f"  {row['verdict']:<10} {row['claim']}" for row in rows]
    return "\n".join([
        tables.architecture_table(report["architectures"], report["T"]),
        "",
        f"The seed's claims ({len(rows)}):",
        *verdicts,
        "",
        *(f"wrote {path}" for path in paths.values()),
        f"wall time {report['wall_time_s']:.1f} s",
    ])


def write(report: dict, config, workdir: str) -> dict[str, str]:
    """Writes every file into ``workdir`` (created if needed); returns ``{kind: path}``."""
    os.makedirs(workdir, exist_ok=True)
    rows = claims.evaluate(report["architectures"], config.claims, report["T"])
    report["claims"] = rows
    paths = {kind: os.path.join(workdir, name) for kind, name in FILES.items()}
    with open(paths["json"], "w") as f:
        json.dump(to_json(report), f, indent=1, allow_nan=False)
    with open(paths["summary"], "w") as f:
        f.write(summary_markdown(report, rows))
    results, dpi = report["architectures"], config.plots.dpi
    plots.norm_vs_distance(results, paths["norms"], dpi=dpi)
    plots.singular_value_spectra(results, paths["spectra"], dpi=dpi, columns=config.plots.columns)
    plots.weight_gradient(results, paths["decomposition"], dpi=dpi)
    return paths
