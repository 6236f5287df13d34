"""Independently recurrent neural network (IndRNN).

Li, Li, Cook, Zhu & Gao (2018), "Independently recurrent neural network (IndRNN):
building a longer and deeper RNN". Each unit has one recurrent weight:

    h_t = φ(x_t U + u ⊙ h_{t−1} + b),      φ ∈ {relu, tanh, linear}

Shapes: ``x: [B, T, D] -> h: [B, T, H]``; ``U: [D, H]``, ``u, b: [H]``.

Gradient flow: the step Jacobian is diagonal, ``∂h_t/∂h_{t−1} = diag(u ⊙ φ′(z_t))``,
so ``∂h_T/∂h_t = diag(∏_{s=t+1..T} u ⊙ φ′(z_s))``: each unit decays or grows on its
own, at a rate set by ``u`` (with relu, φ′ ∈ {0, 1}: exactly ``u^d`` while active).

Initialisation and constraint (paper, Sec. 3.1): to keep a memory of ``memory``
steps the recurrent weights start in ``[2^(−1/memory), 1]`` (``|u|^memory ≥ ½``);
``memory = 0`` draws ``u ~ U[0, 1]``. ``max_recurrent > 0`` constrains
``|u| ≤ max_recurrent`` in the forward pass (the paper's clipping, e.g.
``2^(1/T)`` so that no unit explodes over T steps); 0 leaves ``u`` free.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqgrad.models import recurrence
from seqgrad.models.base import RecurrentModel
from seqgrad.models.initializers import input_initializer
from seqgrad.models.registry import register

ACTIVATIONS = {"relu": jax.nn.relu, "tanh": jnp.tanh, "linear": lambda v: v}


def recurrent_weight_init(memory: int):
    """``u ~ U[2^(−1/memory), 1]`` (``U[0, 1]`` for ``memory = 0``)."""

    def init(key, shape, dtype=jnp.float32):
        low = 0.0 if memory == 0 else 2.0 ** (-1.0 / memory)
        return jax.random.uniform(key, shape, dtype, low, 1.0)

    return init


class IndRNNOptions(nn.Module):
    """The options of `IndRNN` (and of its layer), declared once."""

    hidden_size: int
    activation: str = "relu"
    memory: int = 0
    max_recurrent: float = 0.0
    unroll: int = 1


class IndRNNLayer(IndRNNOptions):
    """One IndRNN layer: ``x: [B, T, D] -> (h, h)``, both ``[B, T, H]``."""

    @nn.compact
    def __call__(self, x, perturbation=None, site="hidden", truncate=None):
        H, dtype = self.hidden_size, x.dtype
        U = self.param("input_kernel", input_initializer(), (x.shape[-1], H), dtype)
        u = self.param("recurrent_weight", recurrent_weight_init(self.memory), (H,), dtype)
        b = self.param("bias", nn.initializers.zeros, (H,), dtype)
        if self.max_recurrent > 0:
            u = jnp.clip(u, -self.max_recurrent, self.max_recurrent)
        phi = ACTIVATIONS[self.activation]
        inputs = recurrence.time_major(x) @ U + b  # [T, B, H]

        def step(carry, z_t):
            return {"h": phi(z_t + u * carry["h"])}

        return recurrence.hidden_layer(
            step, inputs, x, H, perturbation=perturbation, truncate=truncate, unroll=self.unroll
        )


def _validate(options):
    memory = options.get("memory", 0)
    if isinstance(memory, bool) or not isinstance(memory, int) or memory < 0:
        raise ValueError(f"memory={memory!r} is invalid for 'indrnn': it must be an integer >= 0")
    bound = options.get("max_recurrent", 0.0)
    if isinstance(bound, bool) or not isinstance(bound, (int, float)) or bound < 0:
        raise ValueError(f"max_recurrent={bound!r} is invalid for 'indrnn': it must be a number >= 0")


@register("indrnn", choices={"activation": tuple(ACTIVATIONS)}, validate=_validate,
          recurrent_params=("recurrent_weight",))
class IndRNN(RecurrentModel, IndRNNOptions):
    """IndRNN ``h_t = φ(x_t U + u ⊙ h_{t−1} + b)``; ``x: [B, T, D] -> h: [B, T, H]``.

    Options: ``activation`` in {relu, tanh, linear}; ``memory`` (initial ``u`` in
    ``[2^(−1/memory), 1]``, 0: ``U[0, 1]``); ``max_recurrent`` (``|u|`` bound, 0:
    none); ``num_layers``; ``unroll``.
    """

    layer = IndRNNLayer
