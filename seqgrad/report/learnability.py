"""The figure of the learnability job (`seqgrad.jobs.learnability`): ``learnability.png``.

One heat map per task, side by side: a row per architecture, a column per sequence
length T of the sweep. Each cell is coloured by, and annotated with, the fraction of
seeds that solved that point (eval loss at most ``success_fraction`` × the task's
chance-level loss); a blank cell is a point the sweep did not finish. The first
panel's row labels carry each architecture's memory horizon at initialisation
``h₀`` when a ``gradient_flow.json`` was given; one colour bar (0 to 1) serves all panels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from seqgrad.report import figures


def plot(table: Mapping, tasks: Sequence[str], horizons: Mapping[str, float], path: str, *,
         dpi: int = 110) -> Figure:
    """Writes the heat maps of ``table`` (``{arch: {task: {T: {"success": fraction}}}}``) to ``path``;
    returns the figure."""
    archs = sorted(table)
    tasks = list(tasks) or [""]
    lengths = {task: sorted({T for a in archs for T in table[a].get(task, {})}) for task in tasks}
    labels = [f"{a} (h₀ {horizons[a]:g})" if a in horizons else a for a in archs]
    label_width = 0.07 * max((len(label) for label in labels), default=4)  # inches at 7 points
    cells = [max(len(lengths[task]), 1) for task in tasks]
    fig = figures.new(label_width + 0.55 * sum(cells) + 0.5 * len(tasks) + 1.3, 1.5 + 0.3 * max(len(archs), 1))
    axes = fig.subplots(1, len(tasks), squeeze=False, width_ratios=cells)[0]
    image = None
    for k, (ax, task) in enumerate(zip(axes, tasks)):
        Ts = lengths[task]
        grid = np.full((len(archs), len(Ts)), np.nan)
        for r, arch in enumerate(archs):
            for c, T in enumerate(Ts):
                cell = table[arch].get(task, {}).get(T)
                if cell is not None:
                    grid[r, c] = cell["success"]
        image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        for r in range(len(archs)):
            for c in range(len(Ts)):
                if np.isfinite(grid[r, c]):
                    ax.text(c, r, f"{grid[r, c]:.2g}", ha="center", va="center", fontsize=6,
                            color="black" if grid[r, c] > 0.5 else "white")
        ax.set_xticks(range(len(Ts)), [str(T) for T in Ts], fontsize=7)
        ax.set_yticks(range(len(archs)), labels if k == 0 else [""] * len(archs), fontsize=7)
        ax.set_xlabel("T", fontsize=8)
        ax.set_title(task, fontsize=8)
    if image is not None:
        bar = fig.colorbar(image, ax=list(axes), shrink=0.9)
        bar.set_label("fraction of seeds solved", fontsize=7)
        bar.ax.tick_params(labelsize=7)
    fig.suptitle("learnability (h₀: memory horizon at initialisation)", fontsize=8)
    figures.save(fig, path, dpi)
    return fig
