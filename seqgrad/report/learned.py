"""The figure of the learned-gradient-flow job (`seqgrad.jobs.learned`): ``learned_gradient_flow.png``.

One panel per architecture: the input-Jacobian profile ``‖∂ŷ_{T-1}/∂x_t‖`` against the
input step t, at initialisation (dashed) and after training (solid), both the mean over
sequences and seeds.
"""

from __future__ import annotations

from collections.abc import Mapping

from matplotlib.figure import Figure

from seqgrad.report import figures

Y_LABEL = r"$\Vert\partial\hat{y}_{T-1}/\partial x_t\Vert$"


def plot(results: Mapping, path: str, *, dpi: int = 110) -> Figure:
    """Writes the figure of ``results`` (``{arch: {"init": {"input_profile": [...]}, "trained": {...}}}``)
    to ``path``; returns it."""
    fig, axes = figures.grid(len(results), len(results), panel=(3.6, 2.9), extra=(0.3, 0.2))
    for ax, (name, r) in zip(axes, results.items()):
        for when, style in (("init", "--"), ("trained", "-")):
            ax.semilogy(r[when]["input_profile"], style, label=when)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("input step t")
    axes[0].set_ylabel(Y_LABEL)
    axes[0].legend(fontsize=7)
    figures.save(fig, path, dpi)
    return fig
