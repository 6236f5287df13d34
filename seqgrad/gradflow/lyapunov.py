"""Lyapunov exponents of a model's state recurrence, by the QR method.

For the state recurrence ``s_t = F(s_{t-1}, x_t)`` with step Jacobians
``A_t = ∂s_t/∂s_{t-1}``, the exponents are

    λ_i = lim_{T→∞} (1/T) log σ_i(A_{T-1} ⋯ A_0),

the asymptotic decay (λ < 0) or growth rate per step of ``∂s_{T-1}/∂s_t`` along
its i-th direction; λ_1 governs the long-distance tail of the state Jacobians.
The product underflows long before T = 10 000, so the tangent frame is
re-orthonormalised by QR every step (Benettin et al. 1980) inside the shared
recurrence (`seqgrad.models.tangent_frame`), which the model returns as an
output (``model.apply(..., lyapunov=LyapunovSpec(k), mutable=["lyapunov"])``),
so these functions work eagerly, under `jax.jit` and under `jax.vmap` over
parameter sets alike. A linear recurrence ``s_t = a_t ⊙ s_{t-1} + b_t`` gives
``λ_i = mean_t log|a_t,i|`` directly. For a linear RNN ``h ↦ h W`` they are
``log|eig(W)|``.

A singular step (units that die) can send a frame direction exactly to zero;
that direction restarts instead of reading ``-inf`` (`seqgrad.models.tangent_frame`),
and `lyapunov_statistics` reports how often it happened after the burn-in.

Models without a recurrence (Transformer, dilated convolution) have no step
Jacobian: `lyapunov_exponents` returns None for them.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax

from seqgrad.models.base import RecurrentModel
from seqgrad.models.recurrence import LYAPUNOV
from seqgrad.models.tangent_frame import LyapunovSpec

Array = jax.Array


def _stats(model, params, x, spec):
    if not isinstance(model, RecurrentModel):
        return None
    # The request brings its own zero perturbation at site "hidden" (the top layer's state).
    _, state = model.apply(params, x[None], return_probe=True, lyapunov=spec, mutable=[LYAPUNOV])
    return state.get(LYAPUNOV, {}).get("stats")


@functools.partial(jax.jit, static_argnames=("model", "spec"))
def _lyapunov(model, params, x, spec):
    stats = _stats(model, params, x, spec)
    return None if stats is None else (stats.exponents, stats.zero_directions)


def _check(x, num_exponents, burn_in, seed) -> LyapunovSpec:
    if x.ndim != 2:
        raise ValueError(f"x must be one sequence [T, D]; got shape {tuple(x.shape)}")
    return LyapunovSpec(num_exponents, burn_in=burn_in, seed=seed)


def lyapunov_exponents(
    model: nn.Module, params, x: Array, *, num_exponents: int, burn_in: int = 0, seed: int = 0
) -> Array | None:
    """The ``num_exponents`` largest Lyapunov exponents (nats per step), descending.

    Args:
      model: a registered seqgrad model; the recorded recurrence is its top layer's.
      params: its variables.
      x: one input sequence ``[T, D]`` that drives the recurrence (T = 10 000+ is fine).
      num_exponents: k, at most the real dimension of the recurrent state (the
        whole carry: 2H for the LSTM's ``(h, c)``).
      burn_in: steps propagated before accumulating.
      seed: seed of the random initial tangent frame.

    Returns:
      ``[k]`` exponents, or None when the model has no recurrence.
    """
    result = _lyapunov(model, params, x, _check(x, num_exponents, burn_in, seed))
    return None if result is None else result[0]


def lyapunov_statistics(
    model: nn.Module, params, x: Array, *, num_exponents: int, burn_in: int = 0, seed: int = 0
) -> dict[str, Array] | None:
    """`lyapunov_exponents` and the number of exactly-zero directions met after the burn-in.

    Returns:
      ``{"exponents": [k], "zero_directions": []}`` (0 when no step annihilated a
      frame direction), or None when the model has no recurrence.
    """
    result = _lyapunov(model, params, x, _check(x, num_exponents, burn_in, seed))
    return None if result is None else {"exponents": result[0], "zero_directions": result[1]}
