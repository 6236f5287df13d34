"""sLSTM: the scalar-memory LSTM of xLSTM, with exponential gating.

Beck, Pöppel, Spanring, Auer, Prudnikova, Kopp, Klambauer, Brandstetter &
Hochreiter (2024), "xLSTM: extended long short-term memory", Sec. 2.2. Row-vector
convention, ``R`` block-diagonal over ``num_heads`` heads (each ``[H/heads, 4H/heads]``):

    (z̃, ĩ, f̃, õ)_t = x_t W + h_{t−1} R + b                 # [B, 4H]
    z_t = tanh(z̃_t),  i_t = exp(ĩ_t),  f_t = σ(f̃_t) or exp(f̃_t),  o_t = σ(õ_t)
    c_t = f_t ⊙ c_{t−1} + i_t ⊙ z_t                          # cell
    n_t = f_t ⊙ n_{t−1} + i_t                                # normaliser
    h_t = o_t ⊙ c_t / n_t

Stabilised form (paper eqs. 15-17), the default: with the stabiliser state
``m_t = max(log f_t + m_{t−1}, log i_t)``, the gates ``i′_t = exp(log i_t − m_t)``
and ``f′_t = exp(log f_t + m_{t−1} − m_t)`` replace ``i_t, f_t``; then
``c_t, n_t`` are scaled by ``exp(−m_t)`` and ``h_t`` is unchanged (the ratio), but
nothing overflows. ``stabilized=False`` runs the plain equations (equal where
they are finite; tested in float64).

Shapes: ``x: [B, T, D] -> h: [B, T, H]``; ``input_kernel: [D, 4H]``,
``recurrent_kernel: [heads, H/heads, 4H/heads]``, ``bias: [4H]``; carry
``(h, c, n, m)`` (no ``m`` unstabilised), the perturbation site ``"hidden"`` is ``h`` (``H × H`` Jacobians).

Gradient flow: along the cell, ``∂c_t/∂c_{t−1} = f_t`` (an exponential forget
gate can exceed 1); ``h`` also reaches ``h_{t+1}`` through ``R`` and the gates.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqgrad.models import recurrence
from seqgrad.models.base import RecurrentModel
from seqgrad.models.initializers import input_initializer
from seqgrad.models.registry import check_heads, register

FORGET_GATES = ("sigmoid", "exp")


def _log_forget(f_pre, forget_gate):
    return jax.nn.log_sigmoid(f_pre) if forget_gate == "sigmoid" else f_pre


class SLSTMOptions(nn.Module):
    """The options of `SLSTM` (and of its layer), declared once."""

    hidden_size: int
    num_heads: int = 2
    forget_gate: str = "sigmoid"
    forget_bias: float = 1.0
    stabilized: bool = True
    unroll: int = 1


class SLSTMLayer(SLSTMOptions):
    """One sLSTM layer: ``x: [B, T, D] -> (h, h)``, both ``[B, T, H]``."""

    @nn.compact
    def __call__(self, x, perturbation=None, site="hidden", truncate=None):
        H, heads, dtype = self.hidden_size, self.num_heads, x.dtype
        dh = H // heads

        def bias_init(key, shape, dtype):
            return jnp.zeros(shape, dtype).at[2 * H : 3 * H].set(self.forget_bias)

        W = self.param("input_kernel", input_initializer(), (x.shape[-1], 4 * H), dtype)
        R = self.param("recurrent_kernel", nn.initializers.orthogonal(), (heads, dh, 4 * dh), dtype)
        b = self.param("bias", bias_init, (4 * H,), dtype)
        inputs = recurrence.time_major(x) @ W + b  # [T, B, 4H], gate blocks (z, i, f, o)

        def recurrent(h):
            # Head g of h feeds only head g of every gate: [B, heads, dh] -> [B, 4, heads, dh] -> [B, 4H].
            out = jnp.einsum("bgd,gde->bge", h.reshape(-1, heads, dh), R).reshape(-1, heads, 4, dh)
            return jnp.swapaxes(out, 1, 2).reshape(-1, 4 * H)

        def step(carry, u_t):
            pre = u_t + recurrent(carry["h"])
            z, log_i = jnp.tanh(pre[:, :H]), pre[:, H : 2 * H]
            log_f, o = _log_forget(pre[:, 2 * H : 3 * H], self.forget_gate), jax.nn.sigmoid(pre[:, 3 * H :])
            new = {}
            if self.stabilized:
                new["m"] = jnp.maximum(log_f + carry["m"], log_i)
                i, f = jnp.exp(log_i - new["m"]), jnp.exp(log_f + carry["m"] - new["m"])
            else:
                i, f = jnp.exp(log_i), jnp.exp(log_f)
            c = f * carry["c"] + i * z
            n = f * carry["n"] + i
            return {**new, "h": o * c / n, "c": c, "n": n}

        zeros = jnp.zeros((x.shape[0], H), dtype)
        carry = {"h": zeros, "c": zeros, "n": zeros, **({"m": zeros} if self.stabilized else {})}
        out = recurrence.scan_layer(
            step, carry, inputs, perturbation=perturbation, site="h", truncate=truncate, unroll=self.unroll
        )
        return out["h"], out["h"]


@register("slstm", choices={"forget_gate": FORGET_GATES, "stabilized": (True, False)},
          validate=functools.partial(check_heads, "slstm"), recurrent_params=("recurrent_kernel",))
class SLSTM(RecurrentModel, SLSTMOptions):
    """sLSTM with exponential input gate, normaliser and stabiliser; ``x: [B, T, D] -> h: [B, T, H]``.

    Options: ``num_heads`` (blocks of ``R``, must divide H), ``forget_gate`` in
    {sigmoid, exp}, ``forget_bias`` (initial ``b_f``), ``stabilized`` (True),
    ``num_layers``, ``unroll``.
    """

    layer = SLSTMLayer
