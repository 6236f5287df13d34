"""PNG plots of the gradient-flow analysis (matplotlib, Agg backend)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _positive(values) -> np.ndarray:
    values = np.asarray([np.nan if v is None else v for v in values], np.float64)
    return np.where(values > 0, values, np.nan)


def norm_vs_distance(results: Mapping[str, dict], path: str, *, dpi: int) -> None:
    """‖∂h_(T-1)/∂h_(T-1-d)‖₂ vs d for every entry on one log-scale figure (median, IQR shaded).

    Underflowed float32 distances are drawn from the float64 recomputation (dashed).
    """
    fig, ax = plt.subplots(figsize=(10, 6.5))
    cmap = plt.get_cmap("tab20")
    for i, (name, e) in enumerate(results.items()):
        d = np.asarray(e["distance"])
        color = cmap(i % 20)
        f32 = _positive(e["jacobian_norm_raw"])
        ax.plot(d, f32, color=color, label=name, lw=1.6)
        ax.fill_between(d, _positive(e["jacobian_norm_q25"]), _positive(e["jacobian_norm_q75"]), color=color,
                        alpha=0.12, lw=0)
        if e.get("jacobian_norm_float64") is not None:
            f64 = _positive(e["jacobian_norm_float64"])
            ax.plot(d, np.where(np.isnan(f32), f64, np.nan), color=color, ls="--", lw=1.2)
    ax.set_yscale("log")
    ax.set_xlabel("distance d = T-1-t (steps)")
    ax.set_ylabel("spectral norm of ∂h_(T-1)/∂h_t (median over seeds)")
    ax.set_title("Gradient flow through time (dashed: float64 where float32 underflowed)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def singular_value_spectra(results: Mapping[str, dict], path: str, *, dpi: int, columns: int) -> None:
    """One panel per entry: every singular value σ_i of ∂h_(T-1)/∂h_(T-1-d) vs d (median), log scale."""
    n = len(results)
    rows = math.ceil(n / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 2.6 * rows), squeeze=False)
    for ax, (name, e) in zip(axes.flat, results.items()):
        sv = np.asarray(e["singular_values"], np.float64)  # [T, r]
        d = np.asarray(e["distance"])
        colors = plt.get_cmap("viridis")(np.linspace(0, 1, sv.shape[1]))
        for i in range(sv.shape[1]):
            ax.plot(d, np.where(sv[:, i] > 0, sv[:, i], np.nan), color=colors[i], lw=0.8)
        ax.set_yscale("log")
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.supxlabel("distance d (steps)")
    fig.supylabel("singular values σ_1 ≥ … ≥ σ_H (yellow: smallest)")
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def weight_gradient(results: Mapping[str, dict], path: str, *, dpi: int) -> None:
    """Left: ‖G(d)‖, the part of ∂L/∂W from distance d. Right: the seed's ‖∂L/∂W‖ vs T."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5))
    cmap = plt.get_cmap("tab20")
    for i, (name, e) in enumerate(results.items()):
        exp = e["seed_experiment"]
        if exp is None:
            continue
        color = cmap(i % 20)
        contrib = _positive(exp["contribution_norm"]["median"])
        left.plot(np.arange(contrib.shape[0]), contrib, color=color, label=name, lw=1.4)
        right.plot(exp["lengths"], _positive(exp["gradient_norm"]["median"]), "o-", color=color, label=name, lw=1.4)
    left.set_yscale("log")
    left.set_xlabel("distance d from the loss (steps)")
    left.set_ylabel("‖G(d)‖: contribution of distance d to ∂L/∂W")
    left.set_title("Weight-gradient decomposition by time step (median over seeds)")
    right.set_yscale("log")
    right.set_xlabel("sequence length T")
    right.set_ylabel("‖∂L/∂W_rec‖, L = ‖h_(T-1) − y‖²")
    right.set_title("The seed's experiment")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
    left.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
