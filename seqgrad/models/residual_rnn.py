"""Residual (additive-update) RNN: the page's ``h_t = h_{t-1} + Δh_t``.

    Δh_t = α · tanh(h_{t-1} W + x_t U + b)
    h_t  = h_{t-1} + Δh_t

Shapes: ``x: [B, T, D] -> h: [B, T, H]``; ``U: [D, H]``, ``W: [H, H]``, ``b: [H]``
(row-vector convention), ``α = residual_scale``.

Gradient flow (the page's "additive insight", the recurrent analogue of ResNets,
He et al. 2016): with ``J_t[i, j] = ∂h_t[i]/∂h_{t-1}[j]``,

    J_t = I + α · diag(1 - tanh²(z_t)) · Wᵀ,     z_t = h_{t-1} W + x_t U + b,

so the identity gives every backward step a direct path; ``α = 1`` is the page's
equation as written, a small ``α`` keeps each step close to the identity.
"""

from __future__ import annotations

import numbers

import flax.linen as nn
import jax.numpy as jnp

from seqgrad.models import recurrence
from seqgrad.models.base import RecurrentModel
from seqgrad.models.initializers import ElmanOptions, RECURRENT_INITS, elman_parameters
from seqgrad.models.registry import register


class ResidualRNNOptions(ElmanOptions):
    """The options of `ResidualRNN` (and of its layer), declared once."""

    residual_scale: float = 1.0


class ResidualLayer(ResidualRNNOptions):
    """One residual RNN layer: ``x: [B, T, D] -> (h, h)``, both ``[B, T, H]``."""

    @nn.compact
    def __call__(self, x, perturbation=None, site="hidden", truncate=None):
        H = self.hidden_size
        dtype = x.dtype
        U, W, b = elman_parameters(self, x.shape[-1], H, dtype, self.recurrent_init, self.recurrent_scale)
        alpha = self.residual_scale

        inputs = recurrence.time_major(x) @ U + b  # one GEMM for all steps, time-major: [T, B, H]

        def step(carry, u_t):
            h = carry["h"]
            return {"h": h + alpha * jnp.tanh(h @ W + u_t)}

        return recurrence.hidden_layer(
            step, inputs, x, H, perturbation=perturbation, truncate=truncate, unroll=self.unroll
        )


def validate(options):
    for key in ("residual_scale", "recurrent_scale"):
        value = options.get(key, 1.0)
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or value <= 0:
            raise ValueError(f"{key}={value!r} is invalid: it must be a positive real number (e.g. 1.0 or 0.1)")


@register("residual_rnn", choices={"recurrent_init": RECURRENT_INITS}, validate=validate,
          recurrent_params=("recurrent_kernel",))
class ResidualRNN(RecurrentModel, ResidualRNNOptions):
    """Residual RNN ``h_t = h_{t-1} + α·tanh(W h_{t-1} + U x_t + b)``; ``x: [B, T, D] -> h: [B, T, H]``.

    Options: ``residual_scale`` (α > 0, default 1.0); ``recurrent_init`` in
    {orthogonal, identity, normal} scaled by ``recurrent_scale``; ``num_layers``;
    ``unroll`` (scan unroll factor).
    """

    layer = ResidualLayer
