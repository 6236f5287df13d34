"""Step 4 of the main job: one entry measured in every condition, as raw arrays (`summaries` reads them).

The compiled programs (`programs`, compiled by `compilation`) run once per entry over all
conditions; where a float32 zero may be an underflow the float64 recheck runs on the
suspect lengths only.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from seqgrad.gradflow import spectra
from seqgrad.jobs.gradient_flow import compilation
from seqgrad.jobs.gradient_flow.entries import Entry


def _suspect_underflow(norms: np.ndarray, dtype, margin: float) -> bool:
    """Whether some zero of ``norms [..., T]`` follows a tiny norm (a possible float32 underflow)."""
    flat = np.asarray(norms, np.float64).reshape(-1, norms.shape[-1])
    return any(spectra.UNDERFLOW in spectra.zero_status(n, dtype, margin) for n in flat if np.any(n == 0))


@dataclasses.dataclass
class Raw:
    """One entry's measurement: ``arrays`` ``{quantity: [C, S, ...]}`` in ``dtype`` (`programs`), and
    ``float64`` ``{T: spectral norms [C, S, I, T]}`` for every length T where a float32 zero may be an
    underflow (empty when none is)."""

    dtype: Any
    arrays: dict[str, np.ndarray]
    float64: dict[int, np.ndarray]


def measure(entry: Entry, config, drawn, program, cache: compilation.ProgramCache | None = None) -> Raw:
    """Runs an entry's ``program`` (`programs.Measurement`: its `compilation.compile_measure`, or jitted by
    `programs.measure_fn`) on
    ``drawn = (dtype, keys [S], scales [C])`` (`inputs.measurement_inputs`): every seed and input scale, then
    the float64 recheck of the suspect lengths (its programs shared through ``cache`` by entries that lower
    alike)."""
    dtype, keys, scales = drawn
    with jax.enable_x64(bool(config.float64)):
        params, data = program.init(keys), program.draw(keys)
        raw = jax.tree.map(np.asarray, program.run(params, data, scales))
    recheck = config.float64_recheck and not config.float64 and entry.method == "exact"  # a sketch has no stack
    suspect = () if not recheck else tuple(
        T for T in sorted(set(config.conditions.T))
        if _suspect_underflow(raw[f"T{T}/spectral_norm"], dtype, config.underflow_margin_decades))
    if not suspect:
        return Raw(dtype, raw, {})
    recheck = compilation.compile_recheck(entry, config, params, data["xs"], scales, suspect, program.windows, cache)

    def as64(a):
        a = np.asarray(a)
        return a.astype(np.float64) if np.issubdtype(a.dtype, np.floating) else a

    with jax.enable_x64(True):
        return Raw(dtype, raw, recheck(jax.tree.map(as64, params), as64(data["xs"]), np.asarray(scales, np.float64)))
