"""Exact gradient-flow diagnostics for every seqgrad architecture.

* `state_jacobians` / `input_jacobians`: ``∂h_{T-1}/∂h_t`` ``[T, H, H]`` and
  ``∂h_{T-1}/∂x_t`` ``[T, H, D]`` for one sequence ``x: [T, D]``, one compiled call.
* `spectra`: singular values, spectral/Frobenius norms, condition numbers per
  distance; float32 underflow versus exact zeros.
* `decay`: fitted decay rate per step and memory horizon.
* `lyapunov_exponents`: QR-method Lyapunov exponents of the recurrence.
* `attribution`: the seed's weight-gradient experiment and its decomposition by
  distance from the loss.
* `seeds`: statistics over vmapped initialisations.
* `analysis.run(config, workdir)`: the main job (``scripts/analyze.py``).
"""

from seqgrad.gradflow import attribution, decay, seeds, spectra
from seqgrad.gradflow.jacobians import input_jacobians, state_jacobians
from seqgrad.gradflow.lyapunov import lyapunov_exponents

__all__ = [
    "attribution",
    "decay",
    "input_jacobians",
    "lyapunov_exponents",
    "seeds",
    "spectra",
    "state_jacobians",
]
