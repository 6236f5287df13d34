"""minLSTM: an LSTM whose gates and candidate read only the input.

Feng, Tung, Ahmed, Bengio & Hajimirsadeghi (2024), "Were RNNs all we needed?"
(beside `seqgrad.models.mingru`). Row-vector convention:

    f_t = σ(x_t W_f + b_f),   i_t = σ(x_t W_i + b_i)          # forget, input gates [B, H]
    f′_t = f_t / (f_t + i_t),  i′_t = i_t / (f_t + i_t)         # normalised: f′ + i′ = 1
    h̃_t = x_t W_h + b_h                                         # candidate
    h_t = f′_t ⊙ h_{t−1} + i′_t ⊙ h̃_t

Shapes: ``x: [B, T, D] -> h: [B, T, H]``; kernels ``[D, H]``, biases ``[H]``.

The recurrence is linear, ``h_t = a_t ⊙ h_{t−1} + b_t`` with ``a_t = f′_t``, so it
runs as one `jax.lax.associative_scan` (`linear_scan.linear_recurrence`); the
normalisation makes it a convex combination, so ``h`` stays within the range of
the candidates (time-independent scale, paper Sec. 3.2).

Gradient flow: ``∂h_T/∂h_t = diag(∏_{s=t+1..T} f′_s)``, set by the inputs alone.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqgrad.models import linear_scan, recurrence
from seqgrad.models.base import RecurrentModel
from seqgrad.models.initializers import input_initializer
from seqgrad.models.registry import register


class MinLSTMOptions(nn.Module):
    """The options of `MinLSTM` (and of its layer), declared once."""

    hidden_size: int
    forget_bias: float = 1.0


class MinLSTMLayer(MinLSTMOptions):
    """One minLSTM layer: ``x: [B, T, D] -> (h, h)``, both ``[B, T, H]``."""

    @nn.compact
    def __call__(self, x, perturbation=None, site="hidden", truncate=None):
        H, D, dtype = self.hidden_size, x.shape[-1], x.dtype
        kernel = self.param("gate_kernel", input_initializer(), (D, 3 * H), dtype)  # (f, i, h̃)
        bias = self.param("bias", lambda k, s, d: jnp.zeros(s, d).at[:H].set(self.forget_bias), (3 * H,), dtype)
        z = recurrence.time_major(x) @ kernel + bias  # [T, B, 3H]
        f, i, candidate = jax.nn.sigmoid(z[..., :H]), jax.nn.sigmoid(z[..., H : 2 * H]), z[..., 2 * H :]
        keep, write = f / (f + i), i / (f + i)  # f′, i′: f′ + i′ = 1
        return linear_scan.gated_layer(keep, write, candidate, perturbation=perturbation, truncate=truncate)


@register("minlstm", recurrent_params=("gate_kernel",))
class MinLSTM(RecurrentModel, MinLSTMOptions):
    """minLSTM ``h_t = f′_t ⊙ h_{t−1} + i′_t ⊙ h̃_t`` with gates from ``x_t`` only.

    ``x: [B, T, D] -> h: [B, T, H]``. Options: ``forget_bias`` (initial ``b_f``; the
    input-gate bias starts at 0), ``num_layers``.
    """

    layer = MinLSTMLayer
