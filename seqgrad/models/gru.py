"""Gated Recurrent Unit (Cho et al. 2014), in the seed's convention.

Row-vector convention (``[h, x] W`` split into ``h W_h + x U``):

    z_t = σ(h_{t-1} W_z + x_t U_z + b_z)                 update gate
    r_t = σ(h_{t-1} W_r + x_t U_r + b_r)                 reset gate
    h̃_t = tanh((r_t ⊙ h_{t-1}) W_h + x_t U_h + b_h)      candidate; reset BEFORE the matmul
    h_t = (1 - z_t) ⊙ h_{t-1} + z_t ⊙ h̃_t

Convention: as in the seed (and Cho et al.), ``z_t`` is the share of the *new*
candidate, so ``z ≈ 0`` keeps the state; PyTorch, flax and the "σ(b_z)" form of
the closed form use the complementary ``h_t = z ⊙ h_{t-1} + (1 - z) ⊙ h̃_t``.
Here, with all weights zero, ``∂h_T/∂h_t = (1 - σ(b_z))^(T-t)·I`` exactly, and a
negative ``update_bias`` lengthens the memory at initialisation. The reset gate
multiplies ``h_{t-1}`` before ``W_h`` (Cho et al. 2014), unlike cuDNN/PyTorch,
which apply it after (``r ⊙ (h W_h + b_hn)``).

Shapes: ``x: [B, T, D] -> h: [B, T, H]``; ``input_kernel: [D, 3H]`` (blocks
``z, r, h̃``), ``recurrent_kernel: [H, 2H]`` (``W_z, W_r`` fused), ``candidate_kernel:
[H, H]`` (``W_h``), ``bias: [3H]`` (its ``z`` block starts at ``update_bias``).

Speed: the input projections of all steps are one GEMM outside the scan; each
step is one ``[H, 2H]`` matmul and one ``tanh`` for both gates (σ(z) = ½·tanh(z/2)
+ ½, the ½ folded into scaled weight copies before the scan), then the candidate
matmul. Without a perturbation or truncation (training, plain gradients) the
layer runs `seqgrad.models.fused_gru.gru`, whose backward is written by hand (one
reverse loop, then single GEMMs for the weight gradients); ``fused=False`` runs
the generic scan under JAX's automatic differentiation instead (needed for
forward-mode `jax.jvp`/`jax.jacfwd`). Both give the same numbers.
"""

from __future__ import annotations

import numbers

import flax.linen as nn
import jax.numpy as jnp

from seqgrad.models import fused_gru, recurrence
from seqgrad.models.base import RecurrentModel
from seqgrad.models.initializers import input_initializer
from seqgrad.models.registry import register

# Scan unroll factor chosen with benchmarks/bench_cells.py (CPU, float32).
DEFAULT_UNROLL = 1


def gru_bias_init(update_bias: float):
    """Zeros, except ``update_bias`` on the update-gate block ``[0:H]``."""

    def init(key, shape, dtype=jnp.float32):
        del key
        H = shape[0] // 3
        return jnp.zeros(shape, dtype).at[:H].set(update_bias)

    return init


class GRULayer(nn.Module):
    """One GRU layer: ``x: [B, T, D] -> (h, h)``, both ``[B, T, H]``.

    ``fused`` (default True) runs `seqgrad.models.fused_gru.gru` (hand-written
    backward) when ``perturbation`` and ``truncate`` are None; False always runs
    the generic `recurrence.scan` under automatic differentiation.
    """

    hidden_size: int
    update_bias: float = 0.0
    unroll: int = DEFAULT_UNROLL
    fused: bool = True

    @nn.compact
    def __call__(self, x, perturbation=None, site="hidden", truncate=None):
        H = self.hidden_size
        dtype = x.dtype
        U = self.param("input_kernel", input_initializer(), (x.shape[-1], 3 * H), dtype)
        W_zr = self.param("recurrent_kernel", nn.initializers.orthogonal(), (H, 2 * H), dtype)
        W_h = self.param("candidate_kernel", nn.initializers.orthogonal(), (H, H), dtype)
        b = self.param("bias", gru_bias_init(self.update_bias), (3 * H,), dtype)

        # The ½ of σ(z) = ½ tanh(z/2) + ½ folded into the gate columns of the kernels.
        s = jnp.concatenate([jnp.full((2 * H,), 0.5, dtype), jnp.ones((H,), dtype)])
        W_zr_half = W_zr * 0.5
        if self.fused and perturbation is None and truncate is None:
            h = fused_gru.gru(W_zr_half, W_h, U * s, b * s, recurrence.time_major(x), self.unroll)
            h = recurrence.batch_major(h)
            return h, h
        # One GEMM for all steps on time-major x: [T, B, 3H].
        inputs = recurrence.time_major(x) @ (U * s) + b * s

        def step(carry, u_t):
            h = carry["h"]
            zr = 0.5 * jnp.tanh(h @ W_zr_half + u_t[:, : 2 * H]) + 0.5
            z, r = zr[:, :H], zr[:, H:]
            candidate = jnp.tanh((r * h) @ W_h + u_t[:, 2 * H :])
            return {"h": h + z * (candidate - h)}

        carry = {"h": jnp.zeros((x.shape[0], H), dtype)}
        delta = None if perturbation is None else recurrence.time_major(perturbation)
        _, out = recurrence.scan(
            step, carry, inputs, perturbation=delta, site="h", truncate=truncate, unroll=self.unroll
        )
        h = recurrence.batch_major(out["h"])
        return h, h


def validate(options):
    value = options.get("update_bias", 0.0)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"update_bias={value!r} is invalid: it must be a real number (e.g. 0.0 or -1.0)")


@register(
    "gru",
    path_length="O(T) but additive",
    parallel="no",
    paper="Cho et al. 2014 (reset gate before the candidate matmul)",
    validate=validate,
    claim="h_t = (1-z_t) h_{t-1} + z_t h̃_t is an additive path: with z_t ≈ 0 gradients flow through directly",
    recurrent_params=("recurrent_kernel", "candidate_kernel"),
)
class GRU(RecurrentModel):
    """GRU (the seed's equations, Cho et al. 2014); ``x: [B, T, D] -> h: [B, T, H]``.

    Options: ``update_bias`` (initial update-gate bias b_z, default 0.0; negative keeps
    more of ``h_{t-1}``); ``num_layers``; ``unroll`` (scan unroll factor); ``fused``
    (default True: without a perturbation or truncation, run `seqgrad.models.fused_gru.gru`,
    whose backward is written by hand; False: automatic differentiation of the generic
    scan, which also supports forward mode, `jax.jvp`/`jax.jacfwd`). Both give the same numbers.
    """

    update_bias: float = 0.0
    unroll: int = DEFAULT_UNROLL
    fused: bool = True

    layer = GRULayer
