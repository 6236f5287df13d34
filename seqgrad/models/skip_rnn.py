"""Skip-connection RNN: the page's ``h_t = f(h_{t-1}, x_t) + h_{t-k}``.

    f(h, x_t) = tanh(h W + x_t U + b)                    a tanh Elman step
    h_t       = f(h_{t-1}, x_t) + h_{t-k}                 (h_s = 0 for s < 0)      skip_mode="outside"
    h_t       = tanh(h_{t-1} W + x_t U + b + h_{t-k})                               skip_mode="inside"

``"outside"`` (the default, the page's equation) is an identity path with an
unbounded state; ``"inside"`` keeps the state in (-1, 1) and puts the skip
through the nonlinearity, ``∂h_t/∂h_{t-k} = diag(1 - h_t²)``, which separates
"a direct path k steps back" from "an unbounded state".

Shapes: ``x: [B, T, D] -> h: [B, T, H]``; ``U: [D, H]``, ``W: [H, H]``, ``b: [H]``
(row-vector convention), ``k = skip >= 1``.

The carry holds ``h_{t-1}`` and a ring buffer ``history: [k, B, H]`` of the last
k states (slot ``s mod k`` holds ``h_s``), so a perturbation added to ``h_t``
reaches ``h_{t+1}`` through f *and* ``h_{t+k}`` through the skip.

Gradient flow: every state has a direct identity path k steps ahead, so a
gradient crosses a distance d in about d/k multiplications (the page's
``O(T/k)``). If f ignores h (``W = 0``), ``∂h_T/∂h_{T-mk} = I`` for every m and
the Jacobian is zero at every other lag. Skip connections in time go back to
Lin et al. (1996), "Learning long-term dependencies in NARX recurrent neural
networks"; ``k = 1`` is a residual RNN.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqgrad.models import recurrence
from seqgrad.models.base import RecurrentModel
from seqgrad.models.initializers import ElmanOptions, RECURRENT_INITS, elman_parameters
from seqgrad.models.registry import check_positive, register

SKIP_MODES = ("outside", "inside")


class SkipRNNOptions(ElmanOptions):
    """The options of `SkipRNN` (and of its layer), declared once."""

    skip: int = 4
    skip_mode: str = "outside"


class SkipLayer(SkipRNNOptions):
    """One skip-RNN layer: ``x: [B, T, D] -> (h, h)``, both ``[B, T, H]``."""

    @nn.compact
    def __call__(self, x, perturbation=None, site="hidden", truncate=None):
        H, k = self.hidden_size, self.skip
        batch, length = x.shape[0], x.shape[1]
        dtype = x.dtype
        U, W, b = elman_parameters(self, x.shape[-1], H, dtype, self.recurrent_init, self.recurrent_scale)

        inputs = recurrence.time_major(x) @ U + b, jnp.arange(length)  # one GEMM, time-major
        inside = self.skip_mode == "inside"

        def step(carry, u_t):
            u, t = u_t
            h_prev = carry["h"]
            # Store h_{t-1} (as perturbed) in slot (t-1) mod k, then read h_{t-k} from slot t mod k.
            history = jax.lax.dynamic_update_index_in_dim(carry["history"], h_prev, (t - 1) % k, 0)
            h_back = jax.lax.dynamic_index_in_dim(history, t % k, 0, keepdims=False)
            if inside:
                return {"h": jnp.tanh(h_prev @ W + u + h_back), "history": history}
            return {"h": jnp.tanh(h_prev @ W + u) + h_back, "history": history}

        carry = {"h": jnp.zeros((batch, H), dtype), "history": jnp.zeros((k, batch, H), dtype)}
        h = recurrence.scan_layer(
            step, carry, inputs, perturbation=perturbation, site="h", truncate=truncate, unroll=self.unroll
        )["h"]
        return h, h


def validate(options):
    check_positive(options, "skip")


@register("skip_rnn", choices={"recurrent_init": RECURRENT_INITS, "skip_mode": SKIP_MODES}, validate=validate,
          recurrent_params=("recurrent_kernel",))
class SkipRNN(RecurrentModel, SkipRNNOptions):
    """Skip RNN ``h_t = tanh(W h_{t-1} + U x_t + b) + h_{t-k}``; ``x: [B, T, D] -> h: [B, T, H]``.

    Options: ``skip`` (k >= 1, default 4); ``skip_mode`` in {outside, inside}
    (default outside: the skip added after the tanh; inside: ``h_t = tanh(h_{t-1} W +
    x_t U + b + h_{t-k})``); ``recurrent_init`` in {orthogonal, identity, normal}
    scaled by ``recurrent_scale``; ``num_layers``; ``unroll``.
    """

    layer = SkipLayer
