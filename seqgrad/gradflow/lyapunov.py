"""Lyapunov exponents of a model's state recurrence, by the QR method.

For the state recurrence ``s_t = F(s_{t-1}, x_t)`` with step Jacobians
``A_t = ∂s_t/∂s_{t-1}``, the exponents are

    λ_i = lim_{T→∞} (1/T) log σ_i(A_{T-1} ⋯ A_0),

the asymptotic decay (λ < 0) or growth rate per step of ``∂s_{T-1}/∂s_t`` along
its i-th direction; λ_1 governs the long-distance tail of the state Jacobians.
The product underflows long before T = 10 000, so the tangent frame is
re-orthonormalised by QR every step (Benettin et al. 1980) inside the shared
recurrence (`seqgrad.models.recurrence.record_lyapunov`); a linear recurrence
``s_t = a_t ⊙ s_{t-1} + b_t`` gives ``λ_i = mean_t log|a_t,i|`` directly. For a
linear RNN ``h ↦ h W`` they are ``log|eig(W)|``.

Models without a recurrence (Transformer, dilated convolution) have no step
Jacobian: `lyapunov_exponents` returns None for them.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqgrad.models import recurrence

Array = jax.Array


@functools.partial(jax.jit, static_argnames=("model", "num_exponents", "burn_in", "seed"))
def _lyapunov(model, params, x, num_exponents, burn_in, seed):
    T, H = x.shape[0], model.hidden_size
    with recurrence.record_lyapunov(num_exponents, burn_in=burn_in, seed=seed) as recorder:
        model.apply(params, x[None], jnp.zeros((1, T, H), x.dtype), return_probe=True)
    return recorder.exponents if recorder.applicable else None


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
    if x.ndim != 2:
        raise ValueError(f"x must be one sequence [T, D]; got shape {tuple(x.shape)}")
    return _lyapunov(model, params, x, num_exponents, burn_in, seed)

