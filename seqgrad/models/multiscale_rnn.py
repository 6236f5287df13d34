"""Multi-scale (Clockwork) RNN, Koutník, Greff, Gomez & Schmidhuber (2014).

The ``H`` hidden units are split into ``G = num_modules`` equal modules of
``H/G`` units; module ``g`` has period ``P_g = k^g`` (``k = period_base``: periods
1, k, k², …) and only updates on its clock tick:

    z_t       = h_{t-1} (W ⊙ M) + x_t U + b
    h_t[g]    = tanh(z_t[g])   if t mod P_g == 0
              = h_{t-1}[g]     otherwise                 (the module holds its state)

``M`` is block-triangular: ``M[j, i] = 1`` iff the module of source unit j is at
least as slow as the module of target unit i (connections only from slower to
faster modules and within a module, as in the paper). Every module reads the
input; the period-1 module makes ``h_t`` depend on ``x_t``.

Shapes: ``x: [B, T, D] -> h: [B, T, H]``; ``U: [D, H]``, ``W: [H, H]`` (row-vector
convention; stored with the masked entries at zero), ``b: [H]``.

Gradient flow (the page's hierarchical RNN): off-tick, a module's Jacobian is
exactly the identity, so in module g a gradient crosses a distance d through
only about ``d / k^g`` tanh steps: the slowest module's path is ``O(T / k^(G-1))``.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from seqgrad.models import recurrence
from seqgrad.models.base import RecurrentModel
from seqgrad.models.initializers import ElmanOptions, RECURRENT_INITS, input_initializer, recurrent_initializer
from seqgrad.models.registry import check_positive, register


def module_periods(hidden_size: int, num_modules: int, period_base: int) -> np.ndarray:
    """``[H]`` int array: the period ``period_base**g`` of the module each unit belongs to."""
    size = hidden_size // num_modules
    return period_base ** np.repeat(np.arange(num_modules), size)


def connection_mask(hidden_size: int, num_modules: int) -> np.ndarray:
    """``[H, H]`` 0/1 mask ``M[j, i]``: source unit j feeds target unit i iff module(j) >= module(i)."""
    group = np.repeat(np.arange(num_modules), hidden_size // num_modules)
    return (group[:, None] >= group[None, :]).astype(np.float32)


class MultiscaleRNNOptions(ElmanOptions):
    """The options of `MultiscaleRNN` (and of its layer), declared once."""

    num_modules: int = 4
    period_base: int = 2


class ClockworkLayer(MultiscaleRNNOptions):
    """One clockwork layer: ``x: [B, T, D] -> (h, h)``, both ``[B, T, H]``."""

    @nn.compact
    def __call__(self, x, perturbation=None, site="hidden", truncate=None):
        H = self.hidden_size
        dtype = x.dtype
        mask = jnp.asarray(connection_mask(H, self.num_modules), dtype)
        base_init = recurrent_initializer(self.recurrent_init, self.recurrent_scale)
        U = self.param("input_kernel", input_initializer(), (x.shape[-1], H), dtype)
        W = self.param("recurrent_kernel", lambda *a: base_init(*a) * mask, (H, H), dtype)
        b = self.param("bias", nn.initializers.zeros, (H,), dtype)
        W = W * mask  # keeps the block structure whatever an optimiser does to the masked entries

        periods = module_periods(H, self.num_modules, self.period_base)
        ticks = np.arange(x.shape[1])[:, None] % periods[None, :] == 0  # [T, H], static
        inputs = recurrence.time_major(x) @ U + b, jnp.asarray(ticks)  # one GEMM, time-major

        def step(carry, u_t):
            u, tick = u_t
            h = carry["h"]
            return {"h": jnp.where(tick, jnp.tanh(h @ W + u), h)}

        return recurrence.hidden_layer(
            step, inputs, x, H, perturbation=perturbation, truncate=truncate, unroll=self.unroll
        )


def validate(options):
    check_positive(options, "num_modules", "period_base")
    hidden_size = options["hidden_size"]
    num_modules = options.get("num_modules", MultiscaleRNN.num_modules)
    if hidden_size % num_modules:
        raise ValueError(
            f"hidden_size={hidden_size} is invalid for num_modules={num_modules}: "
            f"hidden_size must be divisible by num_modules"
        )


@register("multiscale_rnn", choices={"recurrent_init": RECURRENT_INITS}, validate=validate,
          recurrent_params=("recurrent_kernel",))
class MultiscaleRNN(RecurrentModel, MultiscaleRNNOptions):
    """Clockwork RNN with module periods 1, k, k², …; ``x: [B, T, D] -> h: [B, T, H]``.

    Options: ``num_modules`` (G, must divide ``hidden_size``, default 4);
    ``period_base`` (k, default 2); ``recurrent_init`` in {orthogonal, identity,
    normal} scaled by ``recurrent_scale``; ``num_layers``; ``unroll``.
    """

    layer = ClockworkLayer
