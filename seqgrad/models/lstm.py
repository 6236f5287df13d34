"""Long Short-Term Memory (Hochreiter & Schmidhuber 1997), with the forget gate of Gers et al. (2000).

The seed's equations, row-vector convention (``[h, x] W`` split into ``h W_h + x U``):

    i_t = σ(h_{t-1} W_i + x_t U_i + b_i)            input gate
    f_t = σ(h_{t-1} W_f + x_t U_f + b_f)            forget gate
    o_t = σ(h_{t-1} W_o + x_t U_o + b_o)            output gate
    c̃_t = tanh(h_{t-1} W_c + x_t U_c + b_c)         candidate cell
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ c̃_t                 cell update (additive)
    h_t = o_t ⊙ tanh(c_t)

Shapes: ``x: [B, T, D] -> h: [B, T, H]``. Parameters are fused over the four
gates in the order ``(i, f, o, c̃)``: ``input_kernel: [D, 4H]``,
``recurrent_kernel: [H, 4H]``, ``bias: [4H]``. The forget-gate block of ``bias``
starts at ``forget_bias`` (1.0 by default, Jozefowicz, Zaremba & Sutskever 2015;
flax's own `LSTMCell` starts it at 0, a gate of 0.5).

Gradient flow: ``∂c_t/∂c_{t-1} = diag(f_t)`` along the cell path (the "constant
error carousel"): with all weights zero, ``∂c_T/∂c_t = σ(b_f)^(T-t)·I`` exactly.
``site="cell"`` puts the gradient-flow perturbation on ``c_t`` and returns the
cell sequence as the probe, so diagnostics measure ``∂c_{T-1}/∂c_t``.

Speed: σ(z) = ½·tanh(z/2) + ½ with the ½ folded into (scaled copies of) the
weights, so every gate is a ``tanh``; each step is one ``[B, H] x [H, 4H]``
matmul. Without a perturbation or truncation (training, plain gradients) the
layer runs `seqgrad.models.fused.lstm`, whose backward is written by hand (one
reverse loop, then single GEMMs for the weight gradients); ``fused=False`` runs
the generic scan under JAX's automatic differentiation instead (needed for
forward-mode `jax.jvp`/`jax.jacfwd`). Both give the same numbers.
"""

from __future__ import annotations

import numbers

import flax.linen as nn
import jax.numpy as jnp

from seqgrad.models import fused as fused_layers
from seqgrad.models import recurrence
from seqgrad.models.base import RecurrentModel
from seqgrad.models.initializers import input_initializer
from seqgrad.models.registry import register

# Scan unroll factor chosen with benchmarks/bench_cells.py (CPU, float32).
DEFAULT_UNROLL = 1


def gate_scale(hidden_size: int, dtype) -> jnp.ndarray:
    """``[4H]`` pre-activation scale: ½ on the sigmoid gates (i, f, o), 1 on c̃."""
    H = hidden_size
    return jnp.concatenate([jnp.full((3 * H,), 0.5, dtype), jnp.ones((H,), dtype)])


def lstm_bias_init(forget_bias: float):
    """Zeros, except ``forget_bias`` on the forget-gate block ``[H:2H]``."""

    def init(key, shape, dtype=jnp.float32):
        del key
        H = shape[0] // 4
        return jnp.zeros(shape, dtype).at[H : 2 * H].set(forget_bias)

    return init


class LSTMLayer(nn.Module):
    """One LSTM layer: ``x: [B, T, D] -> (h, probe)``, both ``[B, T, H]``.

    ``probe`` is ``h`` for ``site="hidden"`` and the cell sequence ``c`` for ``site="cell"``.
    """

    hidden_size: int
    forget_bias: float = 1.0
    unroll: int = DEFAULT_UNROLL
    fused: bool = True

    @nn.compact
    def __call__(self, x, perturbation=None, site="hidden", truncate=None):
        H = self.hidden_size
        dtype = x.dtype
        U = self.param("input_kernel", input_initializer(), (x.shape[-1], 4 * H), dtype)
        W = self.param("recurrent_kernel", nn.initializers.orthogonal(), (H, 4 * H), dtype)
        b = self.param("bias", lstm_bias_init(self.forget_bias), (4 * H,), dtype)

        # tanh(s ⊙ z) gives every gate in one pass: σ(z) = ½ tanh(z/2) + ½ on (i, f, o).
        s = gate_scale(H, dtype)
        W_s, U_s, b_s = W * s, U * s, b * s
        if self.fused and perturbation is None and truncate is None and site == "hidden":
            h = recurrence.batch_major(fused_layers.lstm(W_s, U_s, b_s, recurrence.time_major(x), self.unroll))
            return h, h
        # One GEMM for all steps, on time-major x: transposing [B, T, D] is cheaper than [B, T, 4H].
        inputs = recurrence.time_major(x) @ U_s + b_s  # [T, B, 4H]

        def step(carry, u_t):
            a = jnp.tanh(carry["h"] @ W_s + u_t)
            gates = 0.5 * a[:, : 3 * H] + 0.5
            i, f, o = gates[:, :H], gates[:, H : 2 * H], gates[:, 2 * H :]
            c = f * carry["c"] + i * a[:, 3 * H :]
            return {"h": o * jnp.tanh(c), "c": c}

        zeros = jnp.zeros((x.shape[0], H), dtype)
        carry = {"h": zeros, "c": zeros}
        key = "c" if site == "cell" else "h"
        emit = ("h", "c") if site == "cell" else ("h",)
        delta = None if perturbation is None else recurrence.time_major(perturbation)
        _, out = recurrence.scan(
            step, carry, inputs, emit=emit, perturbation=delta, site=key, truncate=truncate, unroll=self.unroll
        )
        h = recurrence.batch_major(out["h"])
        return h, recurrence.batch_major(out[key])


def validate(options):
    value = options.get("forget_bias", 1.0)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"forget_bias={value!r} is invalid: it must be a real number (e.g. 1.0 or 0.0)")


@register(
    "lstm",
    path_length="O(T) but additive",
    parallel="no",
    validate=validate,
    paper="Hochreiter & Schmidhuber 1997; forget gate: Gers, Schmidhuber & Cummins 2000; "
    "forget_bias=1: Jozefowicz, Zaremba & Sutskever 2015",
    claim="∂c_t/∂c_{t-1} = f_t (element-wise): with the forget gate open, gradients flow "
    "through the cell state undiminished (constant error carousel)",
    recurrent_params=("recurrent_kernel",),
)
class LSTM(RecurrentModel):
    """LSTM (the seed's equations); ``x: [B, T, D] -> h: [B, T, H]``.

    Options: ``forget_bias`` (initial forget-gate bias, default 1.0); ``num_layers``;
    ``unroll`` (scan unroll factor); ``fused`` (default True: the hand-written backward
    of `seqgrad.models.fused.lstm` when no perturbation or truncation is given and the
    site is ``"hidden"``; False: automatic differentiation of the generic scan, which
    also supports forward mode). Sites: ``"hidden"`` (``h_t``) and ``"cell"`` (``c_t``).
    """

    sites = ("hidden", "cell")

    forget_bias: float = 1.0
    unroll: int = DEFAULT_UNROLL
    fused: bool = True

    layer = LSTMLayer
