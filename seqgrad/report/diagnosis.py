"""Plots of `seqgrad.gradflow.diagnose` results, drawn by the main job's own plot functions.

    paths = report.diagnosis.plot({"nnx LSTM": d1, "my step": d2}, "runs/mine")
    # {"norms": "runs/mine_norms.png", "spectra": "runs/mine_spectra.png"}
"""

from __future__ import annotations

from collections.abc import Mapping

from seqgrad.report import plots


def plot(results: Mapping, prefix: str, *, dpi: int = 120) -> dict[str, str]:
    """``‖J(d)‖₂`` against d (one curve per model, its regime in the legend) and every singular value by d.

    Args:
      results: ``{label: Diagnosis}``.
      prefix: the files' path without ``_norms.png`` / ``_spectra.png``.

    Returns:
      ``{"norms": path, "spectra": path}``.
    """
    paths = {"norms": f"{prefix}_norms.png", "spectra": f"{prefix}_spectra.png"}
    plots.norm_vs_distance(results, paths["norms"], dpi=dpi)
    plots.singular_value_spectra(results, paths["spectra"], dpi=dpi, columns=min(3, len(results)))
    return paths
