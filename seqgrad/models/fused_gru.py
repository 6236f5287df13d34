"""The GRU layer with a hand-written backward pass (`jax.custom_vjp`), for CPU speed.

JAX's automatic reverse mode of a `lax.scan` is exact but, on the CPU, turns each
backward step into many small kernels. `gru` is one `jax.custom_vjp` over the
whole layer (time-major, ``x: [T, B, D] -> h: [T, B, H]``) of `seqgrad.models.gru`:

* forward: the input projections of all steps are three GEMMs outside the loop,
  one ``[T, B, H]`` array per gate (XLA's CPU backend compiles a static slice of a
  per-step slice of a ``[T, B, 3H]`` array to slow element-wise code; a static
  slice of a matmul output is fine); per step the gate matmul ``h_{t-1} W_zr``,
  one ``tanh`` per gate and the candidate matmul ``(r ⊙ h_{t-1}) W_h``. The step
  writes the residuals of the backward, ``a_z, a_r, h̃`` in place over that step's
  (dead) input projections, and ``r ⊙ h_{t-1}``;
* backward: one reverse loop whose step forms the pre-activation gradients and
  carries ``∂L/∂h_{t-1}``: two matmuls, ``d(r ⊙ h) = dz_h W_hᵀ`` first (``dz_r``
  needs it), then one ``[dz_z, dz_r] W_zrᵀ`` (one ``K = 2H`` matmul measured faster
  than two ``K = H`` ones). The parameter gradients are then GEMMs over the
  ``N = T·B`` rows, and ``∂L/∂x_t = dz_t Uᵀ`` (dropped by XLA when ``x`` needs no
  gradient).

It computes the same numbers as automatic differentiation of the generic
`seqgrad.models.recurrence.scan` step (tests compare both in float64 to 1e-10),
under `jax.jit` and `jax.vmap`, in float32 and float64. Reverse mode of any
order works (grad of grad included); `jax.jvp`/`jax.jacfwd` through it raise
(custom_vjp), so the model offers ``fused=False``; the gradient-flow diagnostics
(perturbation, truncation, Lyapunov tangents) always run on the generic scan.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from seqgrad.models.fused import ROW_CONTRACTION, gate_blocks, parameter_gradients, shift_down

Array = jax.Array

def _forward(W_zr: Array, W_h: Array, U: Array, b: Array, x: Array, unroll: int):
    """Runs the GRU; returns ``(h, (a_z, a_r, h̃, r ⊙ h_{t-1}))``, all ``[T, B, H]``."""
    H = W_h.shape[0]
    T, B = x.shape[:2]
    b_z, b_r, b_h = gate_blocks(b, H, 3)
    # x_t U_g, one [T, B, H] buffer per gate, overwritten in place by a_z, a_r, h̃
    # (a loop writing into fresh outputs would need zero-filled buffers).
    projections = tuple(x @ U_g for U_g in gate_blocks(U, H, 3))
    sequence = jnp.zeros((T, B, H), x.dtype)

    def body(t, state):
        h, (buf_z, buf_r, buf_h), hs, rhs = state

        def read(buf):
            return lax.dynamic_index_in_dim(buf, t, keepdims=False)

        def write(buf, value):
            return lax.dynamic_update_index_in_dim(buf, value, t, 0)

        g = h @ W_zr
        a_z = jnp.tanh(g[:, :H] + read(buf_z) + b_z)
        a_r = jnp.tanh(g[:, H:] + read(buf_r) + b_r)
        rh = (0.5 * a_r + 0.5) * h
        candidate = jnp.tanh(rh @ W_h + read(buf_h) + b_h)
        h_new = h + (0.5 * a_z + 0.5) * (candidate - h)
        buffers = (write(buf_z, a_z), write(buf_r, a_r), write(buf_h, candidate))
        return h_new, buffers, write(hs, h_new), write(rhs, rh)

    h0 = jnp.zeros((B, H), x.dtype)
    _, acts, hs, rhs = lax.fori_loop(0, T, body, (h0, projections, sequence, sequence), unroll=unroll)
    return hs, (*acts, rhs)


@functools.partial(jax.custom_vjp, nondiff_argnums=(5,))
def gru(W_zr: Array, W_h: Array, U: Array, b: Array, x: Array, unroll: int = 1) -> Array:
    """GRU layer (Cho et al. 2014, reset gate before the candidate matmul) with a hand-written backward.

    The caller's gate parameters already carry the ½ of σ(v) = ½·tanh(v/2) + ½
    (as `seqgrad.models.gru` passes them), so with
    ``a_t = tanh(h_{t-1} W_zr + x_t U_zr + b_zr)`` (``[B, 2H]``, blocks ``a_z, a_r``):

        z_t = ½ a_z + ½,   r_t = ½ a_r + ½
        h̃_t = tanh((r_t ⊙ h_{t-1}) W_h + x_t U_h + b_h)
        h_t = h_{t-1} + z_t ⊙ (h̃_t - h_{t-1})            (h_{-1} = 0)

    Args:
      W_zr: ``[H, 2H]`` gate kernel (½-scaled); W_h: ``[H, H]`` candidate kernel;
      U: ``[D, 3H]`` input kernel, blocks ``z, r, h̃`` (gate blocks ½-scaled);
      b: ``[3H]`` (gate blocks ½-scaled); x: ``[T, B, D]``; unroll: loop unroll factor.

    Returns:
      ``h``: ``[T, B, H]``.
    """
    return _forward(W_zr, W_h, U, b, x, unroll)[0]


def _gru_fwd(W_zr, W_h, U, b, x, unroll):
    hs, residuals = _forward(W_zr, W_h, U, b, x, unroll)
    return hs, (W_zr, W_h, U, x, hs, residuals)


def _gru_bwd(unroll, saved, dh_seq):
    """Reverse loop, with ``dh = ∂L/∂h_t + (∂L/∂h_t through step t+1, carried)``:

        dz_h = dh ⊙ z ⊙ (1 - h̃²)                      d(rh) = dz_h W_hᵀ
        dz_z = dh ⊙ (h̃ - h_{t-1}) ⊙ ½(1 - a_z²)      dz_r = d(rh) ⊙ h_{t-1} ⊙ ½(1 - a_r²)
        ∂L/∂h_{t-1} (carried) = dh ⊙ (1 - z) + d(rh) ⊙ r + [dz_z, dz_r] W_zrᵀ

    then, summed over the ``N = T·B`` rows, ``∂W_zr = Σ h_{t-1}ᵀ [dz_z, dz_r]``,
    ``∂W_h = Σ (r ⊙ h_{t-1})ᵀ dz_h``, ``∂U = Σ x_tᵀ dz``, ``∂b = Σ dz`` and
    ``∂x_t = dz_t Uᵀ``, with ``dz = [dz_z, dz_r, dz_h]``.
    """
    W_zr, W_h, U, x, hs, (a_z, a_r, candidate, rh) = saved
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

    inputs = (dh_seq, shift_down(hs), a_z, a_r, candidate)
    _, (dz_zr, dz_h) = lax.scan(step, jnp.zeros_like(hs[0]), inputs, reverse=True, unroll=unroll)

    N, D = hs.shape[0] * hs.shape[1], x.shape[-1]
    # Gate block: rows [h_{t-1}, x_t, 1] give (∂W_zr, ∂U_zr, ∂b_zr) in one GEMM.
    dW_zr, dU_zr, db_zr = parameter_gradients(hs, x, dz_zr)
    dz_h_rows = dz_h.reshape(N, H)
    dW_h = lax.dot_general(rh.reshape(N, H), dz_h_rows, ROW_CONTRACTION)
    dU = jnp.concatenate([dU_zr, lax.dot_general(x.reshape(N, D), dz_h_rows, ROW_CONTRACTION)], axis=1)
    db = jnp.concatenate([db_zr, dz_h_rows.sum(axis=0)])
    dx = dz_zr @ U[:, : 2 * H].T + dz_h @ U[:, 2 * H :].T
    return dW_zr, dW_h, dU, db, dx


gru.defvjp(_gru_fwd, _gru_bwd)
