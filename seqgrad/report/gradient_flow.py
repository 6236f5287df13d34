"""Writes the gradient-flow report: ``gradient_flow.json``, ``summary.md`` and the PNG plots."""

from __future__ import annotations

import os
from collections.abc import Mapping

from seqgrad import jsonio
from seqgrad.report import record
from seqgrad.report.record import Report
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
        f"{tuple(config.conditions.input_scale)} × T {tuple(config.conditions.T)}. "
        + (f"Every window of T steps ends after {report.burn_in} steps of burn-in plus the longest T, so the "
           "profiles read the driven dynamics, not the zero-state start-up. " if report.burn_in else
           "Profiles from the zero state (config.burn_in = 0): they include the start-up transient. ")
        + f"Rate: the slope of ln‖∂h_(T-1)/∂h_(T-1-d)‖₂ per step along its upper envelope (maxima over blocks "
        f"of {config.regime.block} distances; nats/step, negative: vanishing). Regime, from per-step numbers so "
        f"that it does not move with T: vanishing when the rate is below −1/τ, exploding above 1/τ, preserved "
        f"between (τ = {config.regime.timescale:g} steps), power-law decay when ln‖J‖ is linear in ln d, cut off "
        f"when ‖J(d)‖ is exactly 0 from some d₀ on (fits then use d < d₀). Shape: exponential (r² ≥ "
        f"{config.shape.min_r2:g}), power law, flat, drop then plateau, periodic (a dip of "
        f"{config.regime.rebound_decades:g} decade(s) and a recovery). Where ‖J(1)‖ = 0 ratios are taken against "
        f"the window maximum. Memory horizon: the last d with ‖J(d)‖ ≥ {config.horizon_threshold:g}·‖J(1)‖. "
        f"Lyapunov exponents over {config.lyapunov.T} steps after {report.lyapunov_burn_in} (QR method), nats per "
        "step; an exactly singular tangent product is reported as such. A verdict whose margin to its threshold "
        "lies inside the spread over initialisations and inputs reads inconclusive.",
        "## Verdicts by condition",
        tables.verdict_matrix(rows, report.grid),
        "## The page's claims",
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
    measured = [row for row in rows if row.verdict != "not measured"]
    verdicts = [f"  {row.verdict:<12} {row.claim}" + (f"  (depends on {', '.join(row.depends_on)})"
                                                        if row.depends_on else "") for row in measured]
    if len(measured) < len(rows):
        verdicts.append(f"  not measured: {len(rows) - len(measured)} claim(s) whose entries this run lacks")
    return "\n".join([
        tables.architecture_table(report.architectures, report.T),
        "",
        f"The page's claims ({len(rows)}), over {len(report.grid)} conditions:",
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
