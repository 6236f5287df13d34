"""mLSTM: the matrix-memory LSTM of xLSTM, parallelisable.

Beck, Pöppel, Spanring, Auer, Prudnikova, Kopp, Klambauer, Brandstetter &
Hochreiter (2024), "xLSTM: extended long short-term memory", Sec. 2.3. Per head
(``num_heads`` heads of size ``d = H/heads``), row-vector inputs:

    q_t = x_t W_q,  k_t = x_t W_k / √d,  v_t = x_t W_v          # [B, heads, d]
    i_t = exp(ĩ_t),  f_t = σ(f̃_t),  (ĩ, f̃)_t = x_t W_g + b_g     # scalars per head
    o_t = σ(x_t W_o + b_o)                                        # [B, H]
    C_t = f_t C_{t−1} + i_t v_t k_tᵀ                              # [d, d] matrix memory
    n_t = f_t n_{t−1} + i_t k_t                                   # [d] normaliser
    h_t = o_t ⊙ C_t q_t / max(|n_tᵀ q_t|, 1)

Shapes: ``x: [B, T, D] -> h: [B, T, H]``. Gates read only ``x_t``, so ``(C, n)`` is
a linear recurrence; ``form="recurrent"`` (default) runs it as one
`jax.lax.associative_scan` on the stacked ``[C; nᵀ]`` (``[d + 1, d]`` per head),
``form="parallel"`` as attention (paper eqs. 25-27):
``h̃_t = Σ_s D_ts (q_t·k_s) v_s / max(|Σ_s D_ts q_t·k_s|, exp(−m_t))`` with
``log D_ts = Σ_{r=s+1..t} log f_r + ĩ_s − m_t`` (s ≤ t), ``m_t = max_s`` of the
unshifted log: the row stabiliser of the paper. The two forms are equal (tested);
the recurrent one is unstabilised, exact while ``exp(ĩ)`` stays finite.

The state ``C`` is ``d × d`` per head, bigger than ``H``. The ``"hidden"`` site
adds ``δ_t uᵀ`` to ``C_t`` with ``u = 1/√d`` (all entries), and the probe is
``p_t = C_t u`` (``[B, H]``): ``∂p_t/∂δ_t = uᵀu·I = I`` and
``∂p_T/∂δ_t = ∏_{s=t+1..T} f_s · I`` per head, a square ``H × H`` Jacobian. With
a perturbation or truncation the recurrent form runs, whatever ``form``.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqgrad.models import linear_scan, recurrence
from seqgrad.models.base import RecurrentModel
from seqgrad.models.initializers import input_initializer
from seqgrad.models.registry import check_heads, register

FORMS = ("recurrent", "parallel")


def parallel_form(q, k, v, log_i, log_f):
    """Attention-like mLSTM read-out ``h̃``: ``q, k, v: [B, heads, T, d]``, ``log_i, log_f: [B, heads, T]``."""
    T = q.shape[2]
    cum = jnp.cumsum(log_f, axis=-1)
    log_d = cum[..., :, None] - cum[..., None, :] + log_i[..., None, :]  # [B, heads, t, s]
    log_d = jnp.where(jnp.tril(jnp.ones((T, T), bool)), log_d, -jnp.inf)
    m = jnp.max(log_d, axis=-1, keepdims=True)
    scores = jnp.einsum("bgtd,bgsd->bgts", q, k) * jnp.exp(log_d - m)
    norm = jnp.maximum(jnp.abs(scores.sum(-1, keepdims=True)), jnp.exp(-m))
    return jnp.einsum("bgts,bgsd->bgtd", scores, v) / norm


class MLSTMOptions(nn.Module):
    """The options of `MLSTM` (and of its layer), declared once."""

    hidden_size: int
    num_heads: int = 2
    forget_bias: float = 3.0
    form: str = "recurrent"


class MLSTMLayer(MLSTMOptions):
    """One mLSTM layer: ``x: [B, T, D] -> (h, probe)``, both ``[B, T, H]``."""

    @nn.compact
    def __call__(self, x, perturbation=None, site="hidden", truncate=None):
        H, heads, dtype = self.hidden_size, self.num_heads, x.dtype
        d = H // heads
        B, T, _ = x.shape

        def gate_bias(key, shape, dtype):
            return jnp.zeros(shape, dtype).at[heads:].set(self.forget_bias)

        W = self.param("input_kernel", input_initializer(), (x.shape[-1], 4 * H), dtype)  # (q, k, v, o)
        b_o = self.param("output_bias", nn.initializers.zeros, (H,), dtype)
        W_g = self.param("gate_kernel", input_initializer(), (x.shape[-1], 2 * heads), dtype)  # (ĩ, f̃)
        b_g = self.param("gate_bias", gate_bias, (2 * heads,), dtype)
        xt = recurrence.time_major(x)  # [T, B, D]
        proj = (xt @ W).reshape(T, B, 4, heads, d)
        q, k, v = proj[:, :, 0], proj[:, :, 1] / jnp.sqrt(d).astype(dtype), proj[:, :, 2]  # [T, B, heads, d]
        o = jax.nn.sigmoid(proj[:, :, 3].reshape(T, B, H) + b_o)
        gates = xt @ W_g + b_g
        log_i, log_f = gates[..., :heads], jax.nn.log_sigmoid(gates[..., heads:])  # [T, B, heads]

        if self.form == "parallel" and perturbation is None and truncate is None:
            tm = lambda a: jnp.moveaxis(a, 0, 2)  # noqa: E731  [T, B, heads, ...] -> [B, heads, T, ...]
            h = jnp.moveaxis(parallel_form(tm(q), tm(k), tm(v), tm(log_i), tm(log_f)), 2, 0).reshape(T, B, H)
            h = recurrence.batch_major(o * h)
            return h, h
        a = jnp.exp(log_f)[..., None, None]  # [T, B, heads, 1, 1]
        rows = jnp.concatenate([v, jnp.ones_like(v[..., :1])], axis=-1)  # [v; 1]: C and nᵀ in one memory
        b = jnp.exp(log_i)[..., None, None] * rows[..., :, None] * k[..., None, :]  # [T, B, heads, d + 1, d]
        u = jnp.full((d,), 1.0 / jnp.sqrt(d), dtype)
        delta = None
        if perturbation is not None:  # δ_t uᵀ enters C (rows :d), nothing enters n (row d)

            def embed(p):
                outer = p.reshape(T, B, heads, d)[..., :, None] * u
                return jnp.pad(outer, ((0, 0),) * 3 + ((0, 1), (0, 0)))

            delta = jax.tree.map(embed, recurrence.time_major(perturbation))
        memory = linear_scan.linear_recurrence(a, b, perturbation=delta, truncate=truncate)
        C, n = memory[..., :d, :], memory[..., d, :]
        readout = jnp.einsum("tbgij,tbgj->tbgi", C, q)
        norm = jnp.maximum(jnp.abs(jnp.sum(n * q, axis=-1, keepdims=True)), 1.0)
        h = o * (readout / norm).reshape(T, B, H)
        probe = (C @ u).reshape(T, B, H)
        return recurrence.batch_major(h), recurrence.batch_major(probe)


@register("mlstm", choices={"form": FORMS}, validate=functools.partial(check_heads, "mlstm"),
          recurrent_params=("gate_kernel", "gate_bias"))
class MLSTM(RecurrentModel, MLSTMOptions):
    """mLSTM matrix memory ``C_t = f_t C_{t−1} + i_t v_t k_tᵀ``; ``x: [B, T, D] -> h: [B, T, H]``.

    Options: ``num_heads`` (must divide H), ``forget_bias`` (initial ``f̃`` bias, 3.0),
    ``form`` in {recurrent, parallel}, ``num_layers``. Site ``"hidden"``: the
    memory along ``u = 1/√d`` (module docstring).
    """

    layer = MLSTMLayer
