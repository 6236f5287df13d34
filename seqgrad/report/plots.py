"""PNG plots of the gradient-flow analysis (matplotlib, Agg backend).

Architectures are grouped into families (`FAMILIES`): the norm figure has one
panel per family, the weight-gradient figure one colour per family. Every panel
has a title and a legend or a label.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from seqgrad.report.verdicts import CONFIRMED, INCONCLUSIVE, NOT_MEASURED, QUALIFIED, REFUTED  # noqa: E402

FAMILIES = {
    "Elman RNNs": ("rnn", "orthogonal_rnn", "indrnn", "cornn", "attention_rnn"),
    "gated RNNs": ("lstm", "gru", "slstm", "mingru", "minlstm"),
    "identity paths": ("residual_rnn", "skip_rnn", "multiscale_rnn"),
    "linear recurrences": ("lru", "rg_lru", "s6", "mlstm"),
    "no recurrence": ("transformer", "dilated_conv"),
}
VERDICT_COLORS = {CONFIRMED: "#4daf4a", QUALIFIED: "#ffbf00", INCONCLUSIVE: "#80b1d3", REFUTED: "#e41a1c",
                  NOT_MEASURED: "#bdbdbd"}


def family(arch: str) -> str:
    return next((f for f, archs in FAMILIES.items() if arch in archs), "other")


def by_family(results: Mapping) -> dict[str, list[str]]:
    """``{family: [entry names]}`` in the order of `FAMILIES` (then "other"), empty families left out."""
    out: dict[str, list[str]] = {f: [] for f in [*FAMILIES, "other"]}
    for name, e in results.items():
        out[family(e.arch)].append(name)
    return {f: names for f, names in out.items() if names}


def _positive(values) -> np.ndarray:
    values = np.asarray([np.nan if v is None else v for v in values], np.float64)
    return np.where(values > 0, values, np.nan)


def _grid(n: int, columns: int, size=(3.6, 2.8)):
    columns = max(1, min(columns, n))
    rows = math.ceil(n / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(size[0] * columns, size[1] * rows), squeeze=False)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    return fig, list(axes.flat)[:n]


def norm_vs_distance(results: Mapping, path: str, *, dpi: int) -> None:
    """One panel per family: ‖∂h_(T-1)/∂h_(T-1-d)‖₂ vs d (median, IQR shaded; dashed: float64 where float32 underflowed)."""
    families = by_family(results)
    fig, axes = _grid(len(families), 3, size=(5.2, 3.8))
    for ax, (fam, names) in zip(axes, families.items()):
        colors = plt.get_cmap("tab10")
        for i, name in enumerate(names):
            e = results[name]
            d, color = np.asarray(e.distance), colors(i % 10)
            f32 = _positive(e.jacobian_norm_raw)
            ax.plot(d, f32, color=color, label=f"{name} ({e.regime})", lw=1.4)
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
        ax.set_ylabel("‖∂h_(T-1)/∂h_t‖₂ (median)", fontsize=8)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6, loc="lower left")
    fig.suptitle("Gradient flow through time at the default condition, by family (dashed: float64 where float32 "
                 "underflowed; dotted: theory's rate, mean field or closed form, from the measured ‖J(1)‖)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def singular_value_spectra(results: Mapping, path: str, *, dpi: int, columns: int) -> None:
    """One panel per entry: every singular value σ_i of ∂h_(T-1)/∂h_(T-1-d) vs d (median), log scale."""
    fig, axes = _grid(len(results), columns, size=(3.2, 2.5))
    for ax, (name, e) in zip(axes, results.items()):
        sv = np.asarray(e.singular_values, np.float64)  # [T, r]
        d = np.asarray(e.distance)
        colors = plt.get_cmap("viridis")(np.linspace(0, 1, sv.shape[1]))
        for i in range(sv.shape[1]):
            ax.plot(d, np.where(sv[:, i] > 0, sv[:, i], np.nan), color=colors[i], lw=0.8)
        ax.set_yscale("log")
        ax.set_title(f"{name} ({e.site})", fontsize=8)
        ax.tick_params(labelsize=6)
        ax.grid(True, alpha=0.3)
    fig.supxlabel("distance d (steps)")
    fig.supylabel("singular values σ_1 ≥ … ≥ σ_H (yellow: smallest)")
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def weight_gradient(results: Mapping, path: str, *, dpi: int) -> None:
    """Left: ‖G(d)‖, the part of ∂L/∂W from distance d. Right: the seed's ‖∂L/∂W‖ vs T. One colour per family."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 6))
    fams = list(FAMILIES) + ["other"]
    styles = ("-", "--", ":", "-.")
    count: dict[str, int] = {}
    for name, e in results.items():
        exp = e.seed_experiment
        if exp is None:
            continue
        fam = family(e.arch)
        i = count[fam] = count.get(fam, -1) + 1
        color, ls = plt.get_cmap("tab10")(fams.index(fam)), styles[i % len(styles)]
        marker = "os^vDP*x"[i % 8]
        contrib = _positive(exp["contribution_norm"]["median"])
        left.plot(np.arange(contrib.shape[0]), contrib, color=color, ls=ls, label=f"{name} ({fam})", lw=1.2)
        right.plot(exp["lengths"], _positive(exp["gradient_norm"]["median"]), marker=marker, ls=ls, color=color,
                   label=name, lw=1.2)
    left.set_yscale("log")
    left.set_xlabel("distance d from the loss (steps)")
    left.set_ylabel("‖G(d)‖: contribution of distance d to ∂L/∂W")
    left.set_title("Weight-gradient decomposition by time step (median over seeds)")
    right.set_yscale("log")
    right.set_xlabel("sequence length T")
    right.set_ylabel("‖∂L/∂W_rec‖, L = ‖h_(T-1) − y‖²")
    right.set_title("The snippet's experiment")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def verdict_matrix(rows: Sequence, grid: Sequence, path: str, *, dpi: int) -> None:
    """Heat map: one row per measured claim, one column per condition, coloured by verdict."""
    rows = [r for r in rows if any(v.verdict != NOT_MEASURED for v in r.by_condition)] or list(rows)
    order = list(VERDICT_COLORS)
    values = np.array([[order.index(v.verdict) for v in row.by_condition] for row in rows], float)
    fig, ax = plt.subplots(figsize=(2.0 + 1.3 * len(grid), 1.0 + 0.55 * len(rows)))
    ax.imshow(values, cmap=ListedColormap(list(VERDICT_COLORS.values())), vmin=-0.5, vmax=len(order) - 0.5,
              aspect="auto")
    ax.set_xticks(range(len(grid)), [c.label() for c in grid], fontsize=8, rotation=30, ha="right")
    labels = [(r.claim if len(r.claim) <= 55 else r.claim[:52] + "…") + f"  [{r.verdict}]" for r in rows]
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    for i, row in enumerate(rows):
        for j, v in enumerate(row.by_condition):
            ax.text(j, i, v.verdict, ha="center", va="center", fontsize=6)
    ax.set_title("The page's claims: verdict in each condition (input scale s, length T)", fontsize=9)
    ax.legend(handles=[Patch(color=c, label=v) for v, c in VERDICT_COLORS.items()], fontsize=7,
              loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.savefig(path, dpi=dpi, bbox_inches="tight")  # the legend sits outside: "tight" sizes the page to it
    plt.close(fig)


def norm_by_condition(results: Mapping, grid: Sequence, path: str, *, dpi: int, columns: int) -> None:
    """One panel per entry: the median ‖J(d)‖ in every condition (colour: input scale, line style: T)."""
    scales = sorted({c.input_scale for c in grid})
    lengths = sorted({c.T for c in grid})
    fig, axes = _grid(len(results), columns, size=(3.2, 2.5))
    for ax, (name, e) in zip(axes, results.items()):
        for m in e.conditions:
            color = plt.get_cmap("viridis")(scales.index(m.condition.input_scale) / max(1, len(scales) - 1))
            ls = ("-", "--", ":")[lengths.index(m.T) % 3]
            ax.plot(np.arange(m.T), _positive(m.jacobian_norm), color=color, ls=ls, lw=1.0, label=m.condition.label())
        ax.set_yscale("log")
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=6)
        ax.grid(True, alpha=0.3)
    if axes:
        axes[0].legend(fontsize=5)
    fig.supxlabel("distance d (steps)")
    fig.supylabel("‖∂h_(T-1)/∂h_t‖₂ (median)")
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
