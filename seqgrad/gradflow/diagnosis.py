"""Every diagnosis of one model on one sequence, in one call: `diagnose(model, variables, x)`.

    model, variables = models.from_nnx(nnx.LSTMCell(D, H, rngs=nnx.Rngs(0)))   # or from_step, from_equinox, ...
    d = gradflow.diagnose(model, variables, x)        # x: [T, D], one sequence
    print(d.regime, d.decay_rate, d.memory_horizon, d.lyapunov_exponents)
    report.diagnosis.plot({"my model": d}, "my_model")   # my_model_norms.png, my_model_spectra.png

From the exact Jacobians ``J(d) = ∂probe_{T−1}/∂h_{T−1−d}`` (`state_jacobians`;
``[T, m, n]``, square for a cell, ``m = O`` outputs for a whole model): their
spectral norms ``‖J(d)‖₂`` and singular values by distance d (`spectra`), the
regime (vanishing, preserved, exploding, non-monotone) and the fitted decay rate
per step and memory horizon (`decay`, the main job's definitions and default
thresholds), and the largest Lyapunov exponents of the recurrence
(`lyapunov_exponents`, nats per step, on the same sequence). The record carries
the attributes the main job's plots read (`seqgrad.report.plots`), so
`seqgrad.report.diagnosis.plot` draws them.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from seqgrad.gradflow import decay, spectra
from seqgrad.gradflow import windows
from seqgrad.gradflow.jacobians import state_jacobians
from seqgrad.gradflow.lyapunov import lyapunov_exponents

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    """One model's gradient flow on one sequence; ``[T]`` arrays are indexed by distance d = T−1−t."""

    arch: str
    site: str
    distance: np.ndarray  # [T]
    jacobian_norm_raw: np.ndarray  # [T]: ‖J(d)‖₂
    singular_values: np.ndarray  # [T, min(m, n)]
    regime: str  # `decay.classify`: vanishing / preserved / exploding / power-law decay / cut off (T-independent)
    decay_rate: float  # nats per step (negative: vanishing)
    decay_fit_r2: float
    memory_horizon: int | None  # last d with ‖J(d)‖ ≥ threshold·‖J(1)‖; None: beyond T−1
    lyapunov_exponents: np.ndarray | None  # [k], nats per step, descending
    shape: dict = dataclasses.field(default_factory=dict)  # `decay.classify`: shape, envelope rate, timescale, …
    regime_by_ratio: str = ""  # the ratio rule of earlier versions (‖J(T−1)‖ vs 0.1·‖J(1)‖), which moves with T
    burn_in: int = 0  # steps of x run before the profile's window

    @property
    def jacobian_norm(self) -> np.ndarray:
        return self.jacobian_norm_raw

    # The main job's plots read a median with its quartiles; one sequence has no spread.
    @property
    def jacobian_norm_q25(self) -> np.ndarray:
        return self.jacobian_norm_raw

    @property
    def jacobian_norm_q75(self) -> np.ndarray:
        return self.jacobian_norm_raw

    jacobian_norm_float64 = None


def diagnose(model, variables, x: Array, *, site: str = "hidden", num_exponents: int | None = 4,
             burn_in: int = 0, name: str = "model", horizon_threshold: float = 1e-3, growth: float = 10.0,
             preserved: float = 0.1, rebound_decades: float = 1.0, timescale: float = 200.0, block: int = 16,
             min_r2: float = 0.9, plateau_decades: float = 1.0) -> Diagnosis:
    """`Diagnosis` of ``model`` with ``variables`` on one sequence ``x: [T, D]`` (see the module docstring).

    Args:
      site: the perturbation site, one of ``model.sites``.
      num_exponents: Lyapunov exponents to measure (capped at the site's width); None or 0 skips them.
      burn_in: B, steps of ``x`` run before the profile's window (the last T − B steps: the driven dynamics,
        not the zero-state start-up) and before the exponents accumulate.
      name: the label of the model in plots.
      horizon_threshold, timescale, block, min_r2, plateau_decades, rebound_decades: as the main job's
        ``horizon_threshold``, ``regime.*`` and ``shape.*`` (`seqgrad.gradflow.decay.classify`); growth,
        preserved: the ratio rule of earlier versions (``regime_by_ratio``).
    """
    if burn_in:  # the window of the last T − B steps, the burn-in run forward only where the model allows
        J = windows.window_jacobians(model, variables, x, site, x.shape[0] - burn_in)
    else:
        J = state_jacobians(model, variables, x, site=site)  # [T, m, n], by t
    sv = np.asarray(spectra.singular_values(spectra.by_distance(J)), np.float64)  # [W, r], by distance
    norms = sv[:, 0]
    fit = decay.fit_decay_rate(norms)
    classified = decay.classify(norms, timescale=timescale, block=block, min_r2=min_r2,
                                plateau_decades=plateau_decades, rebound_decades=rebound_decades)
    exponents = None
    if num_exponents:
        k = min(num_exponents, model.site_size(site) if hasattr(model, "site_size") else J.shape[-1])
        exponents = np.asarray(lyapunov_exponents(model, variables, x, num_exponents=k, burn_in=burn_in))
    return Diagnosis(
        arch=name,
        site=site,
        distance=np.arange(norms.shape[0]),
        jacobian_norm_raw=norms,
        singular_values=sv,
        regime=classified["regime"],
        shape=classified,
        regime_by_ratio=decay.regime(norms, growth=growth, preserved=preserved, rebound_decades=rebound_decades),
        burn_in=int(burn_in),
        decay_rate=fit["rate"],
        decay_fit_r2=fit["r2"],
        memory_horizon=decay.memory_horizon(norms, horizon_threshold),
        lyapunov_exponents=exponents,
    )
