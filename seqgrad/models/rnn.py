"""Vanilla (Elman) RNN.

    h_t = φ(W h_{t-1} + U x_t + b),     φ ∈ {tanh, relu, linear}

Shapes: ``x: [B, T, D] -> h: [B, T, H]``; ``U: [D, H]``, ``W: [H, H]``, ``b: [H]``
(row-vector convention ``h_t = φ(h_{t-1} W + x_t U + b)``).

Each backward step multiplies the gradient by ``diag(φ'(z_t)) Wᵀ``, so over a
distance d it is a product of d such matrices (the seed's "multiplicative
bottleneck"): with a linear φ, ``∂h_T/∂h_t = (Wᵀ)^(T-t)`` exactly.

Elman (1990), "Finding structure in time"; ``recurrent_init="identity"`` with
``activation="relu"`` is the IRNN of Le, Jaitly & Hinton (2015).
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from seqgrad.models import fused as fused_layers
from seqgrad.models import recurrence
from seqgrad.models.base import RecurrentModel
from seqgrad.models.initializers import RECURRENT_INITS, elman_parameters
from seqgrad.models.registry import register

ACTIVATIONS = fused_layers.ACTIVATIONS


class ElmanLayer(nn.Module):
    """One Elman layer: ``x: [B, T, D] -> (h, h)``, both ``[B, T, H]``."""

    hidden_size: int
    activation: str = "tanh"
    recurrent_init: str = "orthogonal"
    recurrent_scale: float = 1.0
    unroll: int = 1
    fused: bool = True

    @nn.compact
    def __call__(self, x, perturbation=None, site="hidden", truncate=None):
        H = self.hidden_size
        dtype = x.dtype
        U, W, b = elman_parameters(self, x.shape[-1], H, dtype, self.recurrent_init, self.recurrent_scale)
        if self.fused and perturbation is None and truncate is None:
            h = fused_layers.elman(W, U, b, recurrence.time_major(x), self.activation, self.unroll)
            h = recurrence.batch_major(h)
            return h, h
        phi = ACTIVATIONS[self.activation]

        # All input projections in one GEMM outside the time loop, on time-major x
        # (transposing [B, T, D] is much cheaper than transposing [B, T, H]).
        inputs = recurrence.time_major(x) @ U + b

        def step(carry, u_t):
            return {"h": phi(carry["h"] @ W + u_t)}

        carry = {"h": jnp.zeros((x.shape[0], H), dtype)}
        delta = None if perturbation is None else recurrence.time_major(perturbation)
        _, out = recurrence.scan(
            step, carry, inputs, perturbation=delta, site="h", truncate=truncate, unroll=self.unroll
        )
        h = recurrence.batch_major(out["h"])
        return h, h


@register(
    "rnn",
    path_length="O(T)",
    parallel="no",
    paper="Elman 1990; IRNN: Le, Jaitly & Hinton 2015",
    choices={"activation": tuple(ACTIVATIONS), "recurrent_init": RECURRENT_INITS},
    claim="each backward step multiplies by Wᵀ·diag(φ'(z_t)): gradients vanish or explode exponentially",
    recurrent_params=("recurrent_kernel",),
)
class RNN(RecurrentModel):
    """Vanilla Elman RNN ``h_t = φ(W h_{t-1} + U x_t + b)``; ``x: [B, T, D] -> h: [B, T, H]``.

    Options: ``activation`` in {tanh, relu, linear}; ``recurrent_init`` in
    {orthogonal, identity, normal} scaled by ``recurrent_scale``; ``num_layers``;
    ``unroll`` (scan unroll factor); ``fused`` (default True: the hand-written backward
    of `seqgrad.models.fused.elman` when no perturbation or truncation is given; False:
    automatic differentiation of the generic scan, which also supports forward mode).
    """

    activation: str = "tanh"
    recurrent_init: str = "orthogonal"
    recurrent_scale: float = 1.0
    unroll: int = 1
    fused: bool = True

    layer = ElmanLayer
