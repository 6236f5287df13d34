"""Orthogonal RNN through the exponential map (expRNN), Lezcano-Casado & Martínez-Rubio (2019).

    W   = expm(A - Aᵀ)                  orthogonal for every A (A - Aᵀ is skew-symmetric)
    h_t = φ(h_{t-1} W + x_t U)           φ ∈ {modrelu, tanh, linear}

with the bias ``b`` entering as ``φ(z) = tanh(z + b)`` / ``z + b`` for tanh / linear
and as the threshold of modReLU (Arjovsky, Shah & Bengio 2016, used by expRNN):

    modrelu(z) = sign(z) · relu(|z| + b)

Shapes: ``x: [B, T, D] -> h: [B, T, H]``; ``U: [D, H]``, ``A: [H, H]``
(``recurrent_generator``), ``b: [H]``. ``A`` starts as the Henaff, Szlam & LeCun
(2016) initialisation used in the paper: ``A - Aᵀ`` block-diagonal with 2x2 blocks
``[[0, θ], [-θ, 0]]``, ``θ ~ U[-π, π]``, so ``W`` is a block rotation. Any gradient
step on ``A`` keeps ``W`` exactly orthogonal: the constraint is in the
parametrisation, not in the optimiser.

Gradient flow: with a linear φ, ``∂h_T/∂h_t = (Wᵀ)^(T-t)`` has every singular
value equal to 1 (no vanishing, no explosion); a non-linear φ only contracts.
`recurrence_matrix` computes ``W`` from the parameters (once per call, outside the scan).
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqgrad.models import recurrence
from seqgrad.models.base import RecurrentModel
from seqgrad.models.initializers import input_initializer
from seqgrad.models.registry import register

BIAS_INIT_RANGE = 0.01


def modrelu(z, b):
    """modReLU(z) = sign(z)·relu(|z| + b) (Arjovsky et al. 2016), for real z."""
    return jnp.sign(z) * jax.nn.relu(jnp.abs(z) + b)


ACTIVATIONS = {
    "modrelu": modrelu,
    "tanh": lambda z, b: jnp.tanh(z + b),
    "linear": lambda z, b: z + b,
}


def recurrence_matrix(generator):
    """``W = expm(A - Aᵀ)`` for ``A = generator: [H, H]``; orthogonal, ``det W = 1``."""
    return jax.scipy.linalg.expm(generator - generator.T)


def henaff_init(key, shape, dtype=jnp.float32):
    """``A`` with ``A[2i, 2i+1] = θ_i ~ U[-π, π]`` and zeros elsewhere (Henaff et al. 2016)."""
    H = shape[0]
    theta = jax.random.uniform(key, (H // 2,), dtype, -math.pi, math.pi)
    rows = 2 * jnp.arange(H // 2)
    return jnp.zeros(shape, dtype).at[rows, rows + 1].set(theta)


def bias_init(key, shape, dtype=jnp.float32):
    """``U[-BIAS_INIT_RANGE, BIAS_INIT_RANGE]``, expRNN's initialisation of the modReLU threshold."""
    return jax.random.uniform(key, shape, dtype, -BIAS_INIT_RANGE, BIAS_INIT_RANGE)


class OrthogonalRNNOptions(nn.Module):
    """The options of `OrthogonalRNN` (and of its layer), declared once."""

    hidden_size: int
    activation: str = "modrelu"
    unroll: int = 1


class OrthogonalLayer(OrthogonalRNNOptions):
    """One expRNN layer: ``x: [B, T, D] -> (h, h)``, both ``[B, T, H]``."""

    @nn.compact
    def __call__(self, x, perturbation=None, site="hidden", truncate=None):
        H = self.hidden_size
        dtype = x.dtype
        U = self.param("input_kernel", input_initializer(), (x.shape[-1], H), dtype)
        A = self.param("recurrent_generator", henaff_init, (H, H), dtype)
        b = self.param("bias", bias_init, (H,), dtype)
        W = recurrence_matrix(A)
        phi = ACTIVATIONS[self.activation]

        inputs = recurrence.time_major(x) @ U  # one GEMM for all steps, time-major: [T, B, H]

        def step(carry, u_t):
            return {"h": phi(carry["h"] @ W + u_t, b)}

        return recurrence.hidden_layer(
            step, inputs, x, H, perturbation=perturbation, truncate=truncate, unroll=self.unroll
        )


@register("orthogonal_rnn", choices={"activation": tuple(ACTIVATIONS)}, recurrent_params=("recurrent_generator",))
class OrthogonalRNN(RecurrentModel, OrthogonalRNNOptions):
    """expRNN ``h_t = φ(expm(A - Aᵀ) h_{t-1} + U x_t)``; ``x: [B, T, D] -> h: [B, T, H]``.

    Options: ``activation`` in {modrelu, tanh, linear} (default modrelu, as in the
    paper); ``num_layers``; ``unroll`` (scan unroll factor).
    """

    layer = OrthogonalLayer
