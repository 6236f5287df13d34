"""Long Short-Term Memory (Hochreiter & Schmidhuber 1997), with the forget gate of Gers et al. (2000).

The page's equations, row-vector convention (``[h, x] W`` split into ``h W_h + x U``):

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
cell sequence as the probe, so diagnostics measure ``∂c_{T-1}/∂c_t``;
``site="state"`` puts it on the full state ``[h_t, c_t]`` (``2H`` wide), so the
state Jacobians are ``[2H, 2H]`` (with all weights zero, ``[[0, 0], [0, σ(b_f)^d I]]``).

Speed: σ(z) = ½·tanh(z/2) + ½ with the ½ folded into (scaled copies of) the
weights, so every gate is a ``tanh``; each step is one ``[B, H] x [H, 4H]``
matmul. `LSTM_CELL` declares the step once; plain calls (training, plain
gradients) run it with its hand-written VJP (one reverse loop, then single GEMMs
for the weight gradients), calls with a perturbation, truncation or Lyapunov
request under autodiff of the generic scan (`seqgrad.models.handwritten_vjp`);
``fused=False`` always takes the generic scan (needed for forward-mode
`jax.jvp`/`jax.jacfwd`). Both give the same numbers.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp
from jax import lax

from seqgrad.models import handwritten_vjp
from seqgrad.models.base import RecurrentModel
from seqgrad.models.handwritten_vjp import gate_blocks
from seqgrad.models.initializers import GatedOptions, check_chrono, chrono_log_times, input_initializer
from seqgrad.models.registry import check_real, register

# Site -> the carry entries the perturbation enters (and the probe concatenates).
SITE_KEYS = {"hidden": ("h",), "cell": ("c",), "state": ("h", "c")}


def gate_scale(hidden_size: int, dtype) -> jnp.ndarray:
    """``[4H]`` pre-activation scale: ½ on the sigmoid gates (i, f, o), 1 on c̃."""
    H = hidden_size
    return jnp.concatenate([jnp.full((3 * H,), 0.5, dtype), jnp.ones((H,), dtype)])


def lstm_bias_init(forget_bias: float, chrono: int = 0):
    """Zeros, except ``forget_bias`` on the forget-gate block ``[H:2H]``; with ``chrono = T_max > 0``,
    chrono initialisation instead: ``b_f = log u``, ``u ~ U(1, T_max − 1)``, and ``b_i = −b_f``
    (Tallec & Ollivier 2018; `seqgrad.models.initializers.chrono_log_times`)."""

    def init(key, shape, dtype=jnp.float32):
        H = shape[0] // 4
        if chrono:
            b_f = chrono_log_times(key, H, chrono, dtype)
            return jnp.zeros(shape, dtype).at[H : 2 * H].set(b_f).at[:H].set(-b_f)
        return jnp.zeros(shape, dtype).at[H : 2 * H].set(forget_bias)

    return init


def _prepare(params):
    """``(W, U, b) -> (W s, U s, b s)``: tanh(s ⊙ z) gives every gate, σ(z) = ½ tanh(z/2) + ½ on i, f, o."""
    W, U, b = params
    s = gate_scale(W.shape[0], W.dtype)
    return W * s, U * s, b * s


def _project(params, x):
    W, U, _ = params
    return tuple(x @ U_g for U_g in gate_blocks(U, W.shape[0], 4))  # one [T, B, H] input per gate


def _step(params, carry, inputs_t):
    """The cell: ``a = tanh(h W + u + b)`` (scaled), ``i, f, o = ½a + ½``, ``c̃ = a``; saves the backward's residuals."""
    W, _, b = params
    H = W.shape[0]
    z, biases = gate_blocks(carry["h"] @ W, H, 4), gate_blocks(b, H, 4)
    a_i, a_f, a_o, a_c = (jnp.tanh(z[g] + inputs_t[g] + biases[g]) for g in range(4))
    c = (0.5 * a_f + 0.5) * carry["c"] + (0.5 * a_i + 0.5) * a_c
    h = (0.5 * a_o + 0.5) * jnp.tanh(c)
    return {"h": h, "c": c}, (a_i, a_f, a_o, a_c, h, carry["c"])


def _backward(params, x, saved, dh_seq, unroll):
    """Reverse loop, with ``dh_t = ∂L/∂h_t + dz_{t+1} Wᵀ`` and
    ``dc_t = dc_{t+1} ⊙ f_{t+1} + dh_t ⊙ o (1 - tanh²c_t)``:

        dz_i = dc ⊙ c̃ ⊙ ½(1 - a_i²)        dz_f = dc ⊙ c_{t-1} ⊙ ½(1 - a_f²)
        dz_o = dh ⊙ tanh(c_t) ⊙ ½(1 - a_o²) dz_c̃ = dc ⊙ i ⊙ (1 - a_c̃²)
    """
    W, U, _ = params
    *acts, hs, c_prev = saved
    W_t = W.T
    zero = jnp.zeros_like(hs[0])

    def step(carry, inputs):
        dh_recurrent, dc_forget = carry
        dh_out, a_i, a_f, a_o, a_c, c_before = inputs
        i, f = 0.5 * a_i + 0.5, 0.5 * a_f + 0.5
        dh = dh_out + dh_recurrent
        tanh_c = jnp.tanh(f * c_before + i * a_c)
        dc = dc_forget + dh * (0.5 * a_o + 0.5) * (1 - tanh_c * tanh_c)
        dz = jnp.concatenate(
            [
                dc * a_c * (0.5 - 0.5 * a_i * a_i),
                dc * c_before * (0.5 - 0.5 * a_f * a_f),
                dh * tanh_c * (0.5 - 0.5 * a_o * a_o),
                dc * i * (1 - a_c * a_c),
            ],
            axis=1,
        )
        return (dz @ W_t, dc * f), dz

    _, dz = lax.scan(step, (zero, zero), (dh_seq, *acts, c_prev), reverse=True, unroll=unroll)  # [T, B, 4H]
    dW, dU, db = handwritten_vjp.parameter_gradients(hs, x, dz)
    return (dW, dU, db), dz @ U.T


LSTM_CELL = handwritten_vjp.Cell(
    prepare=_prepare, project=_project, step=_step, backward=_backward, carry=("h", "c"), output=4, extra=2
)


class LSTMOptions(GatedOptions):
    """The options of `LSTM` (and of its layer), declared once: `GatedOptions` and ``forget_bias``."""

    forget_bias: float = 1.0


class LSTMLayer(LSTMOptions):
    """One LSTM layer: ``x: [B, T, D] -> (h, probe)``.

    ``probe`` is ``h`` for ``site="hidden"``, the cell sequence ``c`` for
    ``site="cell"`` (both ``[B, T, H]``) and ``[h, c]`` (``[B, T, 2H]``) for ``site="state"``.
    """

    @nn.compact
    def __call__(self, x, perturbation=None, site="hidden", truncate=None):
        H = self.hidden_size
        dtype = x.dtype
        U = self.param("input_kernel", input_initializer(), (x.shape[-1], 4 * H), dtype)
        W = self.param("recurrent_kernel", nn.initializers.orthogonal(), (H, 4 * H), dtype)
        b = self.param("bias", lstm_bias_init(self.forget_bias, self.chrono), (4 * H,), dtype)
        keys = SITE_KEYS[site]
        out = handwritten_vjp.run(
            LSTM_CELL, (W, U, b), x, handwritten=self.fused, perturbation=perturbation,
            site=keys if len(keys) > 1 else keys[0], emit=tuple(dict.fromkeys(("h", *keys))),
            truncate=truncate, unroll=self.unroll,
        )
        return out["h"], jnp.concatenate([out[key] for key in keys], axis=-1)


def validate(options):
    check_real(options, "forget_bias", examples="1.0 or 0.0")
    check_chrono(options)


@register("lstm", validate=validate, recurrent_params=("recurrent_kernel",))
class LSTM(RecurrentModel, LSTMOptions):
    """LSTM (the page's equations); ``x: [B, T, D] -> h: [B, T, H]``.

    Options: ``forget_bias`` (initial forget-gate bias, default 1.0); ``chrono`` (T_max > 0:
    chrono initialisation of the input and forget biases, replacing ``forget_bias``; 0 = off); ``num_layers``;
    ``unroll`` (scan unroll factor); ``fused`` (default True: plain calls run the
    hand-written VJP of `LSTM_CELL`, see `seqgrad.models.handwritten_vjp`; False: always
    autodiff of the generic scan, which also supports forward mode). Sites: ``"hidden"``
    (``h_t``), ``"cell"`` (``c_t``) and ``"state"`` (``[h_t, c_t]``, ``2H`` wide).
    """

    sites = ("hidden", "cell", "state")

    def site_size(self, site: str) -> int:
        return 2 * self.hidden_size if site == "state" else self.hidden_size

    layer = LSTMLayer
