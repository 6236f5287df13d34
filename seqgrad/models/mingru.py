"""minGRU: a GRU whose gates do not read the previous state.

Feng, Tung, Ahmed, Bengio & Hajimirsadeghi (2024), "Were RNNs all we needed?".
Row-vector convention:

    z_t = σ(x_t W_z + b_z)                  # update gate, [B, H]
    h̃_t = g(x_t W_h + b_h)                  # candidate, g = identity or the paper's g
    h_t = (1 − z_t) ⊙ h_{t−1} + z_t ⊙ h̃_t

Shapes: ``x: [B, T, D] -> h: [B, T, H]``; ``W_z, W_h: [D, H]``, ``b_z, b_h: [H]``.

Neither ``z_t`` nor ``h̃_t`` depends on ``h_{t−1}``, so the recurrence is linear,
``h_t = a_t ⊙ h_{t−1} + b_t`` with ``a_t = 1 − z_t`` and ``b_t = z_t ⊙ h̃_t``, and
runs as one `jax.lax.associative_scan` (`linear_scan.linear_recurrence`). The
paper's log-space scan is a numerically different route to the same ``h``; this
module scans in linear space.

``activation="linear"`` is the paper's minGRU (``h̃ = Linear_h(x)``);
``activation="g"`` applies the paper's ``g(v) = v + ½`` for ``v ≥ 0``, ``σ(v)``
for ``v < 0`` (continuous, positive), used there to keep ``h̃ > 0`` for the
log-space scan.

Gradient flow: ``∂h_T/∂h_t = diag(∏_{s=t+1..T} (1 − z_s))``, set by the inputs
alone (the page's additive path), so the gate kernel ``W_z`` is the parameter
that sets the recurrence.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqgrad.models import linear_scan, recurrence
from seqgrad.models.base import RecurrentModel
from seqgrad.models.initializers import input_initializer
from seqgrad.models.registry import register


def g(v):
    """The paper's positive activation: ``v + ½`` for ``v ≥ 0``, ``σ(v)`` for ``v < 0``."""
    return jnp.where(v >= 0, v + 0.5, jax.nn.sigmoid(v))


ACTIVATIONS = {"linear": lambda v: v, "g": g}


class MinGRUOptions(nn.Module):
    """The options of `MinGRU` (and of its layer), declared once."""

    hidden_size: int
    activation: str = "linear"
    gate_bias: float = 0.0


class MinGRULayer(MinGRUOptions):
    """One minGRU layer: ``x: [B, T, D] -> (h, h)``, both ``[B, T, H]``."""

    @nn.compact
    def __call__(self, x, perturbation=None, site="hidden", truncate=None):
        H = self.hidden_size
        dtype = x.dtype
        W_z = self.param("gate_kernel", input_initializer(), (x.shape[-1], H), dtype)
        b_z = self.param("gate_bias", nn.initializers.constant(self.gate_bias), (H,), dtype)
        W_h = self.param("candidate_kernel", input_initializer(), (x.shape[-1], H), dtype)
        b_h = self.param("candidate_bias", nn.initializers.zeros, (H,), dtype)

        x = recurrence.time_major(x)
        z = jax.nn.sigmoid(x @ W_z + b_z)  # [T, B, H]
        candidate = ACTIVATIONS[self.activation](x @ W_h + b_h)
        return linear_scan.gated_layer(1.0 - z, z, candidate, perturbation=perturbation, truncate=truncate)


@register("mingru", choices={"activation": tuple(ACTIVATIONS)}, recurrent_params=("gate_kernel",))
class MinGRU(RecurrentModel, MinGRUOptions):
    """minGRU ``h_t = (1 − z_t) ⊙ h_{t−1} + z_t ⊙ h̃_t`` with ``z_t, h̃_t`` from ``x_t`` only.

    ``x: [B, T, D] -> h: [B, T, H]``. Options: ``activation`` in {linear, g}
    (candidate activation), ``gate_bias`` (initial ``b_z``: negative keeps more
    memory at init), ``num_layers``.
    """

    layer = MinGRULayer
