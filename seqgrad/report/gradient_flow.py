"""Writes the gradient-flow report: ``gradient_flow.json``, ``summary.md`` and the PNG plots."""

from __future__ import annotations

import os
from collections.abc import Mapping

from seqgrad import jsonio
from seqgrad.gradflow import record
from seqgrad.gradflow.record import Report
from seqgrad.report import claims, plots, tables

FILES = {
    "json": "gradient_flow.json",
    "summary": "summary.md",
    "norms": "jacobian_norm_vs_distance.png",
    "spectra": "singular_values_vs_distance.png",
    "decomposition": "weight_gradient_decomposition.png",
    "verdicts": "verdict_matrix.png",
    "conditions": "jacobian_norm_by_condition.png",
}

to_json = record.to_json  # the one JSON conversion of the record


def summary_markdown(report: Report, rows, config) -> str:
    """``summary.md``: verdict matrix, claims, architecture table, conditions, dilution, spreads, zeros."""
    T, results = report.T, report.architectures
    dtype = next(iter(results.values())).dtype if results else "float32"
    d = report.default_condition
    return "\n\n".join([
        "# Gradient flow through time",
        f"Default condition: T = {T}, x ~ {d.input_scale:g}·N(0, 1); H = {report.hidden_size}, "
        f"D = {report.input_size}, {report.num_seeds} initialisations × {report.num_inputs} input sequences "
        f"(median [25th, 75th percentile]), {dtype}. Grid: input scale "
        f"{tuple(config.conditions.input_scale)} × T {tuple(config.conditions.T)}. Decay rate: least-squares slope "
        "of ln‖∂h_(T-1)/∂h_(T-1-d)‖₂ per step (negative: vanishing), printed as a rate only where the profile is "
        f"exponential (r² ≥ {config.shape.min_r2:g}) or flat. Regime: exploding when the norm reaches "
        f"{config.regime.growth:g}·‖J(1)‖, preserved when ‖J(T-1)‖ ≥ {config.regime.preserved:g}·‖J(1)‖, "
        f"non-monotone after a dip of {config.regime.rebound_decades:g} decade(s) and a recovery, else vanishing. "
        f"Memory horizon: the last d with ‖J(d)‖ ≥ {config.horizon_threshold:g}·‖J(1)‖ (first drop: the first d "
        f"below it). Lyapunov exponents over {config.lyapunov.T} steps (QR method), nats per step.",
        "## Verdicts by condition",
        tables.verdict_matrix(rows, report.grid),
        "## The seed's claims",
        tables.claims_table(rows),
        "## Architectures (default condition)",
        tables.architecture_table(results, T),
        "## Regime and decay slope in every condition",
        tables.conditions_table(results, report.grid),
        f"## ‖J(d)‖ at fixed d as T grows (input scale {d.input_scale:g})",
        tables.dilution_table(results, config.fixed_distances, config.claims.dilution_tolerance, d.input_scale),
        "## Spread over initialisations and over inputs (decay rate, default condition)",
        tables.spread_table(results),
        "## Zeros",
        tables.underflow_notes(results),
        "## Plots",
        "\n\n".join(f"![{kind}]({name})" for kind, name in FILES.items() if name.endswith(".png")),
    ]) + "\n"


def terminal_summary(report: Report, paths: Mapping[str, str]) -> str:
    """What the main job prints when it ends: the measured table, the verdicts and the files."""
    rows = report.claims
    verdicts = [f"  {row.verdict:<10} {row.claim}" + (f"  (depends on {', '.join(row.depends_on)})"
                                                      if row.depends_on else "") for row in rows]
    return "\n".join([
        tables.architecture_table(report.architectures, report.T),
        "",
        f"The seed's claims ({len(rows)}), over {len(report.grid)} conditions:",
        *verdicts,
        "",
        *(f"wrote {path}" for path in paths.values()),
        f"wall time {report.wall_time_s:.1f} s",
    ])


def write(report: Report, config, workdir: str) -> dict[str, str]:
    """Writes every file into ``workdir`` (created if needed); returns ``{kind: path}``."""
    os.makedirs(workdir, exist_ok=True)
    report.claims = claims.evaluate(report, config)
    paths = {kind: os.path.join(workdir, name) for kind, name in FILES.items()}
    report.files = paths
    jsonio.write_json(paths["json"], to_json(report), indent=1)
    jsonio.write_text(paths["summary"], summary_markdown(report, report.claims, config))
    results, dpi = report.architectures, config.plots.dpi
    plots.norm_vs_distance(results, paths["norms"], dpi=dpi)
    plots.singular_value_spectra(results, paths["spectra"], dpi=dpi, columns=config.plots.columns)
    plots.weight_gradient(results, paths["decomposition"], dpi=dpi)
    plots.verdict_matrix(report.claims, report.grid, paths["verdicts"], dpi=dpi)
    plots.norm_by_condition(results, report.grid, paths["conditions"], dpi=dpi, columns=config.plots.columns)
    return paths
