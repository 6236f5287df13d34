"""Figures of one training run's workdir.

`plot_snapshots(workdir)`: ``gradflow.png``, the gradient-flow snapshots of
``gradflow.jsonl`` (‖∂h_{T-1}/∂h_t‖₂ against the distance T-1-t, one line per
snapshot, coloured by training step).
"""

from __future__ import annotations

import os

import numpy as np

from seqgrad import jsonio


def plot_snapshots(workdir: str, dpi: int = 120) -> str | None:
    """Writes ``workdir/gradflow.png`` from ``workdir/gradflow.jsonl``; returns its path (None: no snapshots)."""
    rows = jsonio.read_jsonl(os.path.join(workdir, "gradflow.jsonl"))
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    cmap = plt.get_cmap("viridis")
    last = max(r["step"] for r in rows) or 1
    for r in rows:
        norms = np.asarray([np.nan if v is None else v for v in r["norms"]], dtype=float)
        ax.semilogy(np.arange(len(norms)), np.maximum(norms, 1e-40), color=cmap(r["step"] / last),
                    label=f"step {r['step']}")
    ax.set_xlabel("distance T-1-t")
    ax.set_ylabel("‖∂h_{T-1}/∂h_t‖₂")
    ax.set_title("gradient flow during training")
    if len(rows) <= 10:
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = os.path.join(workdir, "gradflow.png")
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
