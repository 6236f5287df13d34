"""Gated Recurrent Unit (Cho et al. 2014), in the page's convention.

Row-vector convention (``[h, x] W`` split into ``h W_h + x U``):

    z_t = σ(h_{t-1} W_z + x_t U_z + b_z)                 update gate
    r_t = σ(h_{t-1} W_r + x_t U_r + b_r)                 reset gate
    h̃_t = tanh((r_t ⊙ h_{t-1}) W_h + x_t U_h + b_h)      candidate; reset BEFORE the matmul
    h_t = (1 - z_t) ⊙ h_{t-1} + z_t ⊙ h̃_t

Convention: as on the page (and Cho et al.), ``z_t`` is the share of the *new*
candidate, so ``z ≈ 0`` keeps the state; PyTorch, flax and the "σ(b_z)" form of
the closed form use the complementary ``h_t = z ⊙ h_{t-1} + (1 - z) ⊙ h̃_t``.
Here, with all weights zero, ``∂h_T/∂h_t = (1 - σ(b_z))^(T-t)·I`` exactly, and a
negative ``update_bias`` lengthens the memory at initialisation. The reset gate
multiplies ``h_{t-1}`` before ``W_h`` (Cho et al. 2014), unlike cuDNN/PyTorch,
which apply it after (``r ⊙ (h W_h + b_hn)``).

Shapes: ``x: [B, T, D] -> h: [B, T, H]``; ``input_kernel: [D, 3H]`` (blocks
``z, r, h̃``), ``recurrent_kernel: [H, 2H]`` (``W_z, W_r`` fused), ``candidate_kernel:
[H, H]`` (``W_h``), ``bias: [3H]`` (its ``z`` block starts at ``update_bias``).

Speed: the input projections of all steps are GEMMs outside the loop, one
``[T, B, H]`` per gate; each step is one ``[H, 2H]`` matmul and one ``tanh`` per
gate (σ(z) = ½·tanh(z/2) + ½, the ½ folded into scaled weight copies by
`GRU_CELL`'s ``prepare``), then the candidate matmul. `GRU_CELL` declares the
step once; plain calls (training, plain gradients) run it with its hand-written
VJP (one reverse loop, then single GEMMs for the weight gradients), calls with a
perturbation, truncation or Lyapunov request under autodiff of the generic scan
(`seqgrad.models.handwritten_vjp`); ``fused=False`` always takes the generic
scan (needed for forward-mode `jax.jvp`/`jax.jacfwd`). Both give the same numbers.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp
from jax import lax

from seqgrad.models import handwritten_vjp
from seqgrad.models.base import RecurrentModel
from seqgrad.models.handwritten_vjp import ROW_CONTRACTION, gate_blocks
from seqgrad.models.initializers import GatedOptions, check_chrono, chrono_log_times, input_initializer
from seqgrad.models.registry import check_real, register


def gru_bias_init(update_bias: float, chrono: int = 0):
    """Zeros, except ``update_bias`` on the update-gate block ``[0:H]``; with ``chrono = T_max > 0``,
    chrono initialisation instead: ``b_z = −log u``, ``u ~ U(1, T_max − 1)``.

    The sign: here ``z`` is the share of the new candidate, so the gate that keeps the
    state is ``1 − z = σ(−b_z) = σ(log u)``, the LSTM's chrono forget gate (Tallec &
    Ollivier 2018 write the GRU with the complementary gate and ``b = log u``); with all
    weights zero, ``∂h_T/∂h_t = diag(u/(1 + u))^(T−t)``, characteristic times ``1 + u``.
    """

    def init(key, shape, dtype=jnp.float32):
        H = shape[0] // 3
        if chrono:
            return jnp.zeros(shape, dtype).at[:H].set(-chrono_log_times(key, H, chrono, dtype))
        return jnp.zeros(shape, dtype).at[:H].set(update_bias)

    return init


def _prepare(params):
    """The ½ of σ(v) = ½ tanh(v/2) + ½ folded into the gate columns: ``(W_zr/2, W_h, U s, b s)``."""
    W_zr, W_h, U, b = params
    H = W_h.shape[0]
    s = jnp.concatenate([jnp.full((2 * H,), 0.5, U.dtype), jnp.ones((H,), U.dtype)])
    return W_zr * 0.5, W_h, U * s, b * s


def _project(params, x):
    _, W_h, U, _ = params
    return tuple(x @ U_g for U_g in gate_blocks(U, W_h.shape[0], 3))  # x_t U_g, one [T, B, H] per gate


def _step(params, carry, inputs_t):
    """``a = tanh(h W_zr + u + b)`` (scaled), ``z, r = ½a + ½``, candidate after the reset; saves residuals."""
    W_zr, W_h, _, b = params
    H = W_h.shape[0]
    h = carry["h"]
    b_z, b_r, b_h = gate_blocks(b, H, 3)
    g = h @ W_zr
    a_z = jnp.tanh(g[:, :H] + inputs_t[0] + b_z)
    a_r = jnp.tanh(g[:, H:] + inputs_t[1] + b_r)
    rh = (0.5 * a_r + 0.5) * h
    candidate = jnp.tanh(rh @ W_h + inputs_t[2] + b_h)
    h_new = h + (0.5 * a_z + 0.5) * (candidate - h)
    return {"h": h_new}, (a_z, a_r, candidate, h_new, rh)


def _backward(params, x, saved, dh_seq, unroll):
    """Reverse loop, with ``dh = ∂L/∂h_t + (∂L/∂h_t through step t+1, carried)``:

        dz_h = dh ⊙ z ⊙ (1 - h̃²)                      d(rh) = dz_h W_hᵀ
        dz_z = dh ⊙ (h̃ - h_{t-1}) ⊙ ½(1 - a_z²)      dz_r = d(rh) ⊙ h_{t-1} ⊙ ½(1 - a_r²)
        ∂L/∂h_{t-1} (carried) = dh ⊙ (1 - z) + d(rh) ⊙ r + [dz_z, dz_r] W_zrᵀ

    (``d(rh)`` first: ``dz_r`` needs it; one ``K = 2H`` matmul for the gates measured
    faster than two ``K = H`` ones), then, summed over the ``N = T·B`` rows,
    ``∂W_zr = Σ h_{t-1}ᵀ [dz_z, dz_r]``, ``∂W_h = Σ (r ⊙ h_{t-1})ᵀ dz_h``,
    ``∂U = Σ x_tᵀ dz``, ``∂b = Σ dz`` and ``∂x_t = dz_t Uᵀ``, with ``dz = [dz_z, dz_r, dz_h]``.
    """
    W_zr, W_h, U, _ = params
    a_z, a_r, candidate, hs, rh = saved
    H = W_h.shape[0]
    W_zr_t, W_h_t = W_zr.T, W_h.T

    def step(dh_next, inputs):
        dh_out, h, a_z, a_r, c = inputs
        dh = dh_out + dh_next
        z = 0.5 * a_z + 0.5
        dz_h = dh * z * (1 - c * c)
        d_rh = dz_h @ W_h_t
        dz_zr = jnp.concatenate([dh * (c - h) * (0.5 - 0.5 * a_z * a_z), d_rh * h * (0.5 - 0.5 * a_r * a_r)], 1)
        dh_prev = dh * (1 - z) + d_rh * (0.5 * a_r + 0.5) + dz_zr @ W_zr_t
        return dh_prev, (dz_zr, dz_h)

    inputs = (dh_seq, handwritten_vjp.shift_down(hs), a_z, a_r, candidate)
    _, (dz_zr, dz_h) = lax.scan(step, jnp.zeros_like(hs[0]), inputs, reverse=True, unroll=unroll)

    N, D = hs.shape[0] * hs.shape[1], x.shape[-1]
    # Gate block: rows [h_{t-1}, x_t, 1] give (∂W_zr, ∂U_zr, ∂b_zr) in one GEMM.
    dW_zr, dU_zr, db_zr = handwritten_vjp.parameter_gradients(hs, x, dz_zr)
    dz_h_rows = dz_h.reshape(N, H)
    dW_h = lax.dot_general(rh.reshape(N, H), dz_h_rows, ROW_CONTRACTION)
    dU = jnp.concatenate([dU_zr, lax.dot_general(x.reshape(N, D), dz_h_rows, ROW_CONTRACTION)], axis=1)
    db = jnp.concatenate([db_zr, dz_h_rows.sum(axis=0)])
    dx = dz_zr @ U[:, : 2 * H].T + dz_h @ U[:, 2 * H :].T
    return (dW_zr, dW_h, dU, db), dx


GRU_CELL = handwritten_vjp.Cell(prepare=_prepare, project=_project, step=_step, backward=_backward, output=3, extra=2)


class GRUOptions(GatedOptions):
    """The options of `GRU` (and of its layer), declared once: `GatedOptions` and ``update_bias``."""

    update_bias: float = 0.0


class GRULayer(GRUOptions):
    """One GRU layer: ``x: [B, T, D] -> (h, h)``, both ``[B, T, H]`` (``fused``: see `GRU`)."""

    @nn.compact
    def __call__(self, x, perturbation=None, site="hidden", truncate=None):
        H = self.hidden_size
        dtype = x.dtype
        U = self.param("input_kernel", input_initializer(), (x.shape[-1], 3 * H), dtype)
        W_zr = self.param("recurrent_kernel", nn.initializers.orthogonal(), (H, 2 * H), dtype)
        W_h = self.param("candidate_kernel", nn.initializers.orthogonal(), (H, H), dtype)
        b = self.param("bias", gru_bias_init(self.update_bias, self.chrono), (3 * H,), dtype)
        h = handwritten_vjp.run(
            GRU_CELL, (W_zr, W_h, U, b), x, handwritten=self.fused,
            perturbation=perturbation, truncate=truncate, unroll=self.unroll,
        )["h"]
        return h, h


def validate(options):
    check_real(options, "update_bias", examples="0.0 or -1.0")
    check_chrono(options)


@register("gru", validate=validate, recurrent_params=("recurrent_kernel", "candidate_kernel"))
class GRU(RecurrentModel, GRUOptions):
    """GRU (the page's equations, Cho et al. 2014); ``x: [B, T, D] -> h: [B, T, H]``.

    Options: ``update_bias`` (initial update-gate bias b_z, default 0.0; negative keeps
    more of ``h_{t-1}``); ``chrono`` (T_max > 0: chrono initialisation of ``b_z``, replacing
    ``update_bias``, see `gru_bias_init`; 0 = off); ``num_layers``; ``unroll`` (scan unroll factor); ``fused``
    (default True: plain calls run the hand-written VJP of `GRU_CELL`, see
    `seqgrad.models.handwritten_vjp`; False: always autodiff of the generic scan, which
    also supports forward mode, `jax.jvp`/`jax.jacfwd`). Both give the same numbers.
    """

    layer = GRULayer
