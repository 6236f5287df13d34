"""The figure of the curse-of-memory job (`seqgrad.jobs.memory_curse`): ``curse_of_memory.png``.

Log-log: the parameter sensitivity ``E[(∂h/∂θ)²]`` against ``1 − λ`` (memory grows to the
right), one colour per recurrence; dots are measured, lines the closed form, and the
legend gives each recurrence's fitted exponent k of ``(1 − λ)^k``.
"""

from __future__ import annotations

from collections.abc import Mapping

from matplotlib.figure import Figure

from seqgrad.report import figures


def plot(results: Mapping, path: str, *, dpi: int = 120) -> Figure:
    """Writes the figure of ``results`` (per recurrence: ``lambdas``, ``param_sensitivity``, ``slope``
    and ``closed_form.param_sensitivity``) to ``path``; returns it."""
    fig = figures.new(6, 4.2)
    ax = fig.subplots()
    for name, r in results.items():
        gap = 1 - r["lambdas"]
        (line,) = ax.loglog(gap, r["closed_form"]["param_sensitivity"], "-", lw=1)
        ax.loglog(gap, r["param_sensitivity"], "o", ms=4, color=line.get_color(),
                  label=f"{name} (k = {r['slope']:+.1f})")
    ax.invert_xaxis()
    ax.set_xlabel("1 − λ   (memory grows to the right)")
    ax.set_ylabel(r"$E[(\partial h/\partial\theta)^2]$")
    ax.set_title("Curse of memory: dots measured, lines closed form", fontsize=9)
    ax.legend(fontsize=7)
    figures.save(fig, path, dpi)
    return fig
