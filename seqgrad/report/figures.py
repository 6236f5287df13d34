"""The one way seqgrad's figures are made and saved.

Every figure is a `matplotlib.figure.Figure` on an Agg canvas: no pyplot, so drawing a
report never switches the backend of the caller (a notebook keeps its own) and needs no
closing. Figures use matplotlib's constrained layout, which makes room for the titles,
axis labels, ``sup*`` labels, colour bars and figure legends of any number of panels,
so nothing is clipped whether a report holds one entry or twenty.

* `new(width, height)`: an empty figure (inches).
* `grid(n, columns, panel=(w, h))`: ``n`` panels of ``panel`` inches each, ``columns`` to a row.
* `wrap(text, width, fontsize)`: ``text`` broken into lines that fit ``width`` inches.
* `save(fig, path, dpi)`: writes the PNG; returns ``path``.
"""

from __future__ import annotations

import math
import textwrap

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

# Room a figure keeps around its panels for the sup-title, sup-labels and a legend (inches).
MARGIN = (0.9, 0.9)


def new(width: float, height: float) -> Figure:
    """An empty figure of ``width`` × ``height`` inches with constrained layout on an Agg canvas."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def grid(n: int, columns: int, panel: tuple[float, float] = (3.2, 2.5),
         extra: tuple[float, float] = MARGIN) -> tuple[Figure, list[Axes]]:
    """A figure of ``n`` panels (``panel`` inches each, ``columns`` to a row, plus ``extra``
    inches for the figure's own labels); the unused cells of the last row are hidden."""
    n = max(n, 1)
    columns = max(1, min(columns, n))
    rows = math.ceil(n / columns)
    fig = new(panel[0] * columns + extra[0], panel[1] * rows + extra[1])
    axes = list(fig.subplots(rows, columns, squeeze=False).flat)
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def wrap(text: str, width: float, fontsize: float) -> str:
    """``text`` in lines that fit ``width`` inches at ``fontsize`` points (about 0.55 em per character);
    a mathtext span ``$...$`` is never broken."""
    chars = max(20, int(width * 72 / (0.55 * fontsize)))
    parts = text.split("$")
    kept = "$".join(p.replace(" ", _NO_BREAK) if k % 2 else p for k, p in enumerate(parts))
    return "\n".join(textwrap.wrap(kept, chars, break_long_words=False)).replace(_NO_BREAK, " ")


_NO_BREAK = "\x00"


def save(fig: Figure, path: str, dpi: int) -> str:
    """Writes ``fig`` to ``path`` (PNG) at ``dpi``; returns ``path``."""
    fig.savefig(path, dpi=dpi)
    return path
