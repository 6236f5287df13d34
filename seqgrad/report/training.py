"""Figures of one training run's workdir.

`plot_snapshots(workdir)`: ``gradflow.png``, the gradient-flow snapshots of
``gradflow.jsonl`` (‖∂h_{T-1}/∂h_t‖₂ against the distance T-1-t, one line per
snapshot, coloured by training step).
"""

from __future__ import annotations

import os

import numpy as np

from seqgrad import jsonio

# Mathtext of the axis labels: ‖∂h_{T-1}/∂h_t‖₂ against the distance T-1-t.
Y_LABEL = r"$\Vert\partial h_{T-1}/\partial h_t\Vert_2$"
X_LABEL = r"distance $T-1-t$ (steps)"


def plot_snapshots(workdir: str, dpi: int = 120) -> str | None:
    """Writes ``workdir/gradflow.png`` from ``workdir/gradflow.jsonl``; returns its path (None: no snapshots)."""
    rows = jsonio.read_jsonl(os.path.join(workdir, "gradflow.jsonl"))
    if not rows:
        return None
    from matplotlib import colormaps

    from seqgrad.report import figures

    fig = figures.new(6, 4)
    ax = fig.subplots()
    cmap = colormaps["viridis"]
    last = max(r["step"] for r in rows) or 1
    for r in rows:
        norms = np.asarray([np.nan if v is None else v for v in r["norms"]], dtype=float)
        ax.semilogy(np.arange(len(norms)), np.maximum(norms, 1e-40), color=cmap(r["step"] / last),
                    label=f"step {r['step']}")
    ax.set_xlabel(X_LABEL)
    ax.set_ylabel(Y_LABEL)
    ax.set_title("gradient flow during training")
    if len(rows) <= 10:
        ax.legend(fontsize=7)
    else:  # too many lines to name: the colour scale says which step each is
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        fig.colorbar(ScalarMappable(Normalize(0, last), cmap), ax=ax, label="training step")
    return figures.save(fig, os.path.join(workdir, "gradflow.png"), dpi)
