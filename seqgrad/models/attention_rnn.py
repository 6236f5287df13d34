"""An Elman recurrence whose output attends causally over its own past states.

Row-vector convention, ``n = num_heads`` heads of width ``H / n``:

    s_t = tanh(s_{t−1} W + x_t U + b)                              # the recurrence, [B, H]
    h_t = s_t + Σ_heads softmax_{j≤t}(q_t k_jᵀ / sqrt(H/n)) v_j W_o  # causal read-out
    q_t = s_t W_q,   k_j = s_j W_k,   v_j = s_j W_v

Shapes: ``x: [B, T, D] -> h: [B, T, H]``; ``U: [D, H]``, ``W, W_q, W_k, W_v,
W_o: [H, H]`` (the last four as flax `MultiHeadDotProductAttention` kernels,
without biases). The recurrence runs through `recurrence.scan`; the read-out is
computed for all t at once after it (one ``[T, T]`` masked attention).

This is the page's "Attention RNN": ``h_{T−1}`` reads every past state ``s_t``
through one attention hop, so ``∂h_{T−1}/∂s_t`` has an O(1)-length path besides
the O(T) product ``∏ diag(1 − s²) Wᵀ`` of the recurrence. Attention over the
states of an RNN as in Bahdanau, Cho & Bengio (2015); causal self-attention
read-out over an RNN's own history as in Cheng, Dong & Lapata (2016), "Long
short-term memory-networks for machine reading".

The perturbation site is the carried state ``s`` (it enters the scan after each
step, so it reaches both the recurrence and the keys/values); the probe is the
output ``h``. ``truncate=k`` cuts the scan at step ``T − k`` and stops the
gradients of the states ``s_t``, ``t < T − k``, that feed keys and values, so a
loss on the last step sees exactly the last k steps, through both paths.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqgrad.models import recurrence
from seqgrad.models.base import RecurrentModel
from seqgrad.models.initializers import ElmanOptions, RECURRENT_INITS, elman_parameters
from seqgrad.models.registry import check_positive, register, registered


def stop_early_gradients(s, truncate):
    """``s: [B, T, H]`` with `jax.lax.stop_gradient` on steps ``t < T − truncate`` (identity if None)."""
    if truncate is None:
        return s
    early = (jnp.arange(s.shape[1]) < s.shape[1] - truncate)[None, :, None]
    return jnp.where(early, jax.lax.stop_gradient(s), s)


class AttentionRNNOptions(ElmanOptions):
    """The options of `AttentionRNN` (and of its layer), declared once."""

    num_heads: int = 1


class AttentionRNNLayer(AttentionRNNOptions):
    """One layer: ``x: [B, T, D] -> (h, h)``, both ``[B, T, H]``."""

    @nn.compact
    def __call__(self, x, perturbation=None, site="hidden", truncate=None):
        H = self.hidden_size
        dtype = x.dtype
        U, W, b = elman_parameters(self, x.shape[-1], H, dtype, self.recurrent_init, self.recurrent_scale)

        def step(carry, u_t):
            return {"s": jnp.tanh(carry["s"] @ W + u_t)}

        carry = {"s": jnp.zeros((x.shape[0], H), dtype)}
        s = recurrence.scan_layer(
            step, carry, recurrence.time_major(x) @ U + b, perturbation=perturbation, site="s",
            truncate=truncate, unroll=self.unroll, emit=("s",),
        )["s"]  # [B, T, H]
        s_kv = stop_early_gradients(s, truncate)
        read = nn.MultiHeadDotProductAttention(
            num_heads=self.num_heads,
            use_bias=False,
            dtype=dtype,
            param_dtype=dtype,
            name="attention",
        )(s, s_kv, mask=nn.make_causal_mask(jnp.ones(s.shape[:2], bool)))
        h = s + read
        return h, h


def _validate(options):
    opts = {**registered("attention_rnn").options, **options}
    check_positive(opts, "num_heads")
    if opts["hidden_size"] % opts["num_heads"]:
        raise ValueError(
            f"num_heads={opts['num_heads']!r} is invalid for 'attention_rnn': "
            f"it must divide hidden_size={opts['hidden_size']!r}"
        )


@register("attention_rnn", choices={"recurrent_init": RECURRENT_INITS}, validate=_validate, probe_is_state=False,
          recurrent_params=("recurrent_kernel",))
class AttentionRNN(RecurrentModel, AttentionRNNOptions):
    """Elman RNN ``s_t`` with a causal multi-head attention read-out ``h_t = s_t + Attn(s_t, s_{≤t})``.

    ``x: [B, T, D] -> h: [B, T, H]``. Options: ``num_heads`` (must divide
    ``hidden_size``), ``recurrent_init`` in {orthogonal, identity, normal} scaled
    by ``recurrent_scale``, ``num_layers``, ``unroll`` (scan unroll factor).
    """

    layer = AttentionRNNLayer
