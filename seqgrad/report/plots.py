"""PNG plots of the gradient-flow analysis (matplotlib figures of `seqgrad.report.figures`).

Architectures are grouped into families (`FAMILIES`): the norm figure has one
panel per family, the weight-gradient figure one colour per family. Every panel
has a title and a legend or a label; an entry measured on a trained run says so
("trained") in its legend or title. Each function writes its PNG and returns the
figure. Distances are ``d = T-1-t`` and ``J(d) = ∂h_{T-1}/∂h_{T-1-d}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from seqgrad.report import figures
from seqgrad.report.verdicts import CONFIRMED, INCONCLUSIVE, NOT_MEASURED, QUALIFIED, REFUTED

FAMILIES = {
    "Elman RNNs": ("rnn", "orthogonal_rnn", "indrnn", "cornn", "attention_rnn"),
    "gated RNNs": ("lstm", "gru", "slstm", "mingru", "minlstm"),
    "identity paths": ("residual_rnn", "skip_rnn", "multiscale_rnn"),
    "linear recurrences": ("lru", "rg_lru", "s6", "mlstm"),
    "no recurrence": ("transformer", "dilated_conv"),
}
VERDICT_COLORS = {CONFIRMED: "#4daf4a", QUALIFIED: "#ffbf00", INCONCLUSIVE: "#80b1d3", REFUTED: "#e41a1c",
                  NOT_MEASURED: "#bdbdbd"}
# Mathtext of the profile every figure plots: ‖J(d)‖₂ with J(d) = ∂h_{T-1}/∂h_{T-1-d}.
JACOBIAN_NORM = r"$\Vert\partial h_{T-1}/\partial h_{T-1-d}\Vert_2$"
LABEL_SIZE = 9  # the figures' own x and y labels (points)


def family(arch: str) -> str:
    return next((f for f, archs in FAMILIES.items() if arch in archs), "other")


def by_family(results: Mapping) -> dict[str, list[str]]:
    """``{family: [entry names]}`` in the order of `FAMILIES` (then "other"), empty families left out."""
    out: dict[str, list[str]] = {f: [] for f in [*FAMILIES, "other"]}
    for name, e in results.items():
        out[family(e.arch)].append(name)
    return {f: names for f, names in out.items() if names}


def trained_note(e) -> str:
    """``", trained"`` (with the step, when known) for an entry measured on a trained run; "" otherwise."""
    run = getattr(e, "trained", None)
    if not run:
        return ""
    step = run.get("step") if isinstance(run, Mapping) else None
    return f", trained {step} steps" if step is not None else ", trained"


def _positive(values) -> np.ndarray:
    values = np.asarray([np.nan if v is None else v for v in values], np.float64)
    return np.where(values > 0, values, np.nan)


def norm_vs_distance(results: Mapping, path: str, *, dpi: int) -> Figure:
    """One panel per family: ‖J(d)‖₂ vs d (median, IQR shaded; dashed: float64 where float32 underflowed)."""
    families = by_family(results)
    fig, axes = figures.grid(len(families), 3, panel=(5.2, 3.8))
    colors = colormaps["tab10"]
    for ax, (fam, names) in zip(axes, families.items()):
        for i, name in enumerate(names):
            e = results[name]
            d, color = np.asarray(e.distance), colors(i % 10)
            f32 = _positive(e.jacobian_norm_raw)
            ax.plot(d, f32, color=color, label=f"{name} ({e.regime}{trained_note(e)})", lw=1.4)
            ax.fill_between(d, _positive(e.jacobian_norm_q25), _positive(e.jacobian_norm_q75), color=color,
                            alpha=0.12, lw=0)
            if e.jacobian_norm_float64 is not None:
                f64 = _positive(e.jacobian_norm_float64)
                ax.plot(d, np.where(np.isnan(f32), f64, np.nan), color=color, ls="--", lw=1.0)
            prediction = getattr(e, "prediction", None)
            if prediction and len(d) > 1 and np.isfinite(start := _positive(e.jacobian_norm)[1]):
                # theory's rate (mean field or closed form) from the measured ‖J(1)‖
                ax.plot(d[1:], start * np.exp(prediction["rate"] * (d[1:] - 1.0)), color=color, ls=":", lw=1.0)
        ax.set_yscale("log")
        ax.set_title(fam, fontsize=10)
        ax.set_xlabel("distance d = T-1-t (steps)", fontsize=8)
        ax.set_ylabel(JACOBIAN_NORM + " (median)", fontsize=8)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6, loc="lower left")
    width = fig.get_figwidth()
    fig.suptitle(figures.wrap("Gradient flow through time at the default condition, by family (dashed: float64 "
                              "where float32 underflowed; dotted: theory's rate, mean field or closed form, from "
                              "the measured ‖J(1)‖)", width, 10), fontsize=10)
    return _save(fig, path, dpi)


def singular_value_spectra(results: Mapping, path: str, *, dpi: int, columns: int) -> Figure:
    """One panel per entry: every singular value σ_i of J(d) vs d (median), log scale, coloured by rank."""
    fig, axes = figures.grid(len(results), columns, panel=(3.2, 2.5), extra=(1.4, 1.0))
    cmap = colormaps["viridis"]
    for ax, (name, e) in zip(axes, results.items()):
        sv = np.asarray(e.singular_values, np.float64)  # [T, r]
        d = np.asarray(e.distance)
        colors = cmap(np.linspace(0, 1, sv.shape[1]))
        for i in range(sv.shape[1]):
            ax.plot(d, np.where(sv[:, i] > 0, sv[:, i], np.nan), color=colors[i], lw=0.8)
        ax.set_yscale("log")
        ax.set_title(f"{name} ({e.site}{trained_note(e)})", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
    bar = fig.colorbar(ScalarMappable(Normalize(0, 1), cmap), ax=axes, shrink=0.9, aspect=30)
    bar.set_ticks([0, 1], labels=[r"$\sigma_1$" + "\nlargest", r"$\sigma_r$" + "\nsmallest"], fontsize=7)
    bar.ax.invert_yaxis()  # σ_1 on top, as its curve
    fig.suptitle(figures.wrap(r"Singular values of $J(d) = \partial h_{T-1}/\partial h_{T-1-d}$ by distance (median)",
                              fig.get_figwidth(), 9), fontsize=9)
    fig.supxlabel("distance d (steps)", fontsize=LABEL_SIZE)
    fig.supylabel(r"$\sigma_i(J(d))$", fontsize=LABEL_SIZE)
    return _save(fig, path, dpi)


def weight_gradient(results: Mapping, path: str, *, dpi: int) -> Figure:
    """Left: ‖G(d)‖, the part of ∂L/∂W from distance d. Right: the page's ‖∂L/∂W‖ vs T.
    One colour per family."""
    fig = figures.new(14, 6)
    left, right = fig.subplots(1, 2)
    fams = list(FAMILIES) + ["other"]
    styles = ("-", "--", ":", "-.")
    count: dict[str, int] = {}
    for name, e in results.items():
        exp = e.seed_experiment
        if exp is None:
            continue
        fam = family(e.arch)
        i = count[fam] = count.get(fam, -1) + 1
        color, ls = colormaps["tab10"](fams.index(fam)), styles[i % len(styles)]
        marker = "os^vDP*x"[i % 8]
        contrib = _positive(exp["contribution_norm"]["median"])
        left.plot(np.arange(contrib.shape[0]), contrib, color=color, ls=ls, label=f"{name} ({fam}{trained_note(e)})",
                  lw=1.2)
        right.plot(exp["lengths"], _positive(exp["gradient_norm"]["median"]), marker=marker, ls=ls, color=color,
                   label=name, lw=1.2)
    left.set_yscale("log")
    left.set_xlabel("distance d from the loss (steps)")
    left.set_ylabel("‖G(d)‖: contribution of distance d to ∂L/∂W")
    left.set_title("Weight-gradient decomposition by time step (median over seeds)")
    right.set_yscale("log")
    right.set_xlabel("sequence length T")
    right.set_ylabel(r"$\Vert\partial L/\partial W_{rec}\Vert$, $L = \Vert h_{T-1} - y\Vert^2$")
    right.set_title("The snippet's experiment")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6, ncol=2)
    return _save(fig, path, dpi)


def verdict_matrix(rows: Sequence, grid: Sequence, path: str, *, dpi: int) -> Figure:
    """Heat map: one row per measured claim, one column per condition, coloured by verdict."""
    rows = [r for r in rows if any(v.verdict != NOT_MEASURED for v in r.by_condition)] or list(rows)
    order = list(VERDICT_COLORS)
    values = np.array([[order.index(v.verdict) for v in row.by_condition] for row in rows], float).reshape(
        len(rows), len(grid))
    labels = [(r.claim if len(r.claim) <= 55 else r.claim[:52] + "…") + f"  [{r.verdict}]" for r in rows]
    label_width = 0.055 * max((len(label) for label in labels), default=0)  # inches at 7 points
    fig = figures.new(label_width + 1.3 * max(len(grid), 1) + 1.6, 1.6 + 0.4 * max(len(rows), 1))
    ax = fig.subplots()
    ax.imshow(values, cmap=ListedColormap(list(VERDICT_COLORS.values())), vmin=-0.5, vmax=len(order) - 0.5,
              aspect="auto")
    ax.set_xticks(range(len(grid)), [c.label() for c in grid], fontsize=8, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    for i, row in enumerate(rows):
        for j, v in enumerate(row.by_condition):
            ax.text(j, i, v.verdict, ha="center", va="center", fontsize=6)
    fig.suptitle(figures.wrap("The page's claims: verdict in each condition (input scale s, length T)",
                              fig.get_figwidth(), 9), fontsize=9)
    fig.legend(handles=[Patch(color=c, label=v) for v, c in VERDICT_COLORS.items()], fontsize=7,
               loc="outside right upper")
    return _save(fig, path, dpi)


def norm_by_condition(results: Mapping, grid: Sequence, path: str, *, dpi: int, columns: int) -> Figure:
    """One panel per entry: the median ‖J(d)‖₂ in every condition (colour: input scale, line style: T);
    one legend for the figure, beside the panels."""
    scales = sorted({c.input_scale for c in grid})
    lengths = sorted({c.T for c in grid})
    styles = ("-", "--", ":", "-.")
    cmap = colormaps["viridis"]

    def color(scale):
        return cmap(scales.index(scale) / max(1, len(scales) - 1))

    fig, axes = figures.grid(len(results), columns, panel=(3.2, 2.5), extra=(2.2, 0.9))
    for ax, (name, e) in zip(axes, results.items()):
        for m in e.conditions:
            ls = styles[lengths.index(m.T) % len(styles)]
            ax.plot(np.arange(m.T), _positive(m.jacobian_norm), color=color(m.condition.input_scale), ls=ls, lw=1.0)
        ax.set_yscale("log")
        ax.set_title(name + trained_note(e), fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
    handles = [Line2D([], [], color=color(s), label=f"input scale s = {s:g}") for s in scales]
    handles += [Line2D([], [], color="gray", ls=styles[k % len(styles)], label=f"T = {T}")
                for k, T in enumerate(lengths)]
    fig.legend(handles=handles, fontsize=7, loc="outside right upper")
    fig.supxlabel("distance d (steps)", fontsize=LABEL_SIZE)
    fig.supylabel(JACOBIAN_NORM + " (median)", fontsize=LABEL_SIZE)
    return _save(fig, path, dpi)


def _save(fig: Figure, path: str, dpi: int) -> Figure:
    figures.save(fig, path, dpi)
    return fig
