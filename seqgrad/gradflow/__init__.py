"""Exact gradient-flow diagnostics for every seqgrad architecture.

* `state_jacobians` / `input_jacobians`: ``∂h_{T-1}/∂h_t`` ``[T, H, H]`` and
  ``∂h_{T-1}/∂x_t`` ``[T, H, D]`` for one sequence ``x: [T, D]``, one compiled call.
* `jacobian_profile`: the same norms at any T and H without the stack: Frobenius
  norms at every distance from k probe cotangents, exact singular values at
  chosen distances (`profile`; `budget.choose_method` picks exact or sketch).
* `spectra`: singular values, spectral/Frobenius norms, condition numbers per
  distance; float32 underflow versus exact zeros.
* `decay`: fitted decay rate per step and memory horizon.
* `parameter_jacobians`: ``∂h_{T-1}/∂θ`` for every parameter leaf (`sensitivity`,
  which also holds the curse-of-memory moments of scalar recurrences).
* `lyapunov_exponents`: QR-method Lyapunov exponents of the recurrence.
* `predictions`: theory's rates beside the measured ones (mean field `seqgrad.models.meanfield`, gate closed forms).
* `attribution`: the page's weight-gradient experiment and its decomposition by
  distance from the loss.
* `seeds`: statistics over vmapped initialisations.
* `diagnose(model, variables, x)`: all of the above for one model and one sequence
  (`diagnosis`; plots: `seqgrad.report.diagnosis.plot`).
* `windows`: the Jacobian stacks of a window after a burn-in.

The jobs that load, train, plot and write files are in `seqgrad.jobs` (the main job:
`seqgrad.jobs.gradient_flow.run`, ``scripts/analyze.py``).
"""

from seqgrad.gradflow import attribution, decay, seeds, spectra
from seqgrad.gradflow.jacobians import input_jacobians, state_jacobians
from seqgrad.gradflow.lyapunov import lyapunov_exponents
from seqgrad.gradflow import profile
from seqgrad.gradflow.profile import jacobian_profile
from seqgrad.gradflow import sensitivity
from seqgrad.gradflow.sensitivity import parameter_jacobians
from seqgrad.gradflow.diagnosis import diagnose

__all__ = [
    "attribution",
    "decay",
    "diagnose",
    "input_jacobians",
    "jacobian_profile",
    "lyapunov_exponents",
    "parameter_jacobians",
    "profile",
    "seeds",
    "sensitivity",
    "spectra",
    "state_jacobians",
]
