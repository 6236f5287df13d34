"""Vanilla (Elman) RNN.

    h_t = φ(W h_{t-1} + U x_t + b),     φ ∈ {tanh, relu, linear}

Shapes: ``x: [B, T, D] -> h: [B, T, H]``; ``U: [D, H]``, ``W: [H, H]``, ``b: [H]``
(row-vector convention ``h_t = φ(h_{t-1} W + x_t U + b)``).

Each backward step multiplies the gradient by ``diag(φ'(z_t)) Wᵀ``, so over a
distance d it is a product of d such matrices (the page's "multiplicative
bottleneck"): with a linear φ, ``∂h_T/∂h_t = (Wᵀ)^(T-t)`` exactly.

Elman (1990), "Finding structure in time"; ``recurrent_init="identity"`` with
``activation="relu"`` is the IRNN of Le, Jaitly & Hinton (2015).

``recurrent_init="critical"``: ``W ~ N(0, (recurrent_scale·g*)²/H)`` with
``g* = seqgrad.models.meanfield.critical_gain(critical_input_scale, activation)``,
the gain at which the mean-field χ₁ = 1 for inputs ``x ~ critical_input_scale·N(0, 1)^D``
(the input kernel is LeCun normal, so the drive per unit has variance
``critical_input_scale²``): the top Lyapunov exponent is ≈ 0 and gradients neither
vanish nor explode exponentially at initialisation (Poole et al. 2016; Chen,
Pennington & Schoenholz 2018). For tanh, g* = 1.856 at ``critical_input_scale = 1``.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from seqgrad.models import meanfield
from seqgrad.models import handwritten_vjp
from seqgrad.models.base import RecurrentModel
from seqgrad.models.initializers import ElmanOptions, RECURRENT_INITS, elman_parameters
from seqgrad.models.registry import register

# Elman activations φ, and φ'(z) written in terms of h = φ(z) (all the backward keeps).
ACTIVATIONS = {"tanh": jnp.tanh, "relu": jax.nn.relu, "linear": lambda z: z}
_DERIVATIVES = {
    "tanh": lambda h: 1 - h * h,
    "relu": lambda h: (h > 0).astype(h.dtype),
    "linear": jnp.ones_like,
}


@functools.lru_cache(maxsize=None)
def elman_cell(activation: str) -> handwritten_vjp.Cell:
    """The Elman cell ``h_t = φ(h_{t-1} W + x_t U + b)`` on params ``(W [H, H], U [D, H], b [H])``.

    Backward: ``dz_t = (∂L/∂h_t + dz_{t+1} Wᵀ) ⊙ φ'(z_t)``, then one GEMM for ``(∂W, ∂U, ∂b)``.
    """
    phi, derivative = ACTIVATIONS[activation], _DERIVATIVES[activation]

    def project(params, x):
        W, U, b = params
        return (x @ U,)  # the bias is added inside the step, where it is free

    def step(params, carry, inputs_t):
        W, U, b = params
        h = phi(carry["h"] @ W + inputs_t[0] + b)
        return {"h": h}, (h,)

    def backward(params, x, saved, dh_seq, unroll):
        W, U, _ = params
        (hs,) = saved
        W_t = W.T

        def reverse(dh_recurrent, inputs):
            dh_out, h = inputs
            dz = (dh_out + dh_recurrent) * derivative(h)
            return dz @ W_t, dz

        _, dz = lax.scan(reverse, jnp.zeros_like(hs[0]), (dh_seq, hs), reverse=True, unroll=unroll)
        dW, dU, db = handwritten_vjp.parameter_gradients(hs, x, dz)
        return (dW, dU, db), dz @ U.T

    return handwritten_vjp.Cell(
        prepare=lambda params: params, project=project, step=step, backward=backward, in_place=False
    )


# "critical": the normal initialiser at the mean-field critical gain (module docstring).
RNN_RECURRENT_INITS = RECURRENT_INITS + ("critical",)


def recurrent_init_and_scale(options) -> tuple[str, float]:
    """``(recurrent_init, recurrent_scale)`` to build ``W`` with; ``"critical"`` becomes
    ``("normal", recurrent_scale · critical_gain(critical_input_scale, activation))``."""
    if options.recurrent_init != "critical":
        return options.recurrent_init, options.recurrent_scale
    gain = meanfield.critical_gain(float(options.critical_input_scale), options.activation)
    return "normal", options.recurrent_scale * gain


def validate(options):
    value = options.get("critical_input_scale", 1.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise ValueError(f"critical_input_scale={value!r} is invalid: it must be a finite number >= 0 (e.g. 1.0)")


class RNNOptions(ElmanOptions):
    """The options of `RNN` (and of its layer), declared once."""

    activation: str = "tanh"
    critical_input_scale: float = 1.0
    fused: bool = True


class ElmanLayer(RNNOptions):
    """One Elman layer: ``x: [B, T, D] -> (h, h)``, both ``[B, T, H]``."""

    @nn.compact
    def __call__(self, x, perturbation=None, site="hidden", truncate=None):
        U, W, b = elman_parameters(self, x.shape[-1], self.hidden_size, x.dtype, *recurrent_init_and_scale(self))
        h = handwritten_vjp.run(
            elman_cell(self.activation), (W, U, b), x, handwritten=self.fused,
            perturbation=perturbation, truncate=truncate, unroll=self.unroll,
        )["h"]
        return h, h


@register("rnn", choices={"activation": tuple(ACTIVATIONS), "recurrent_init": RNN_RECURRENT_INITS},
          validate=validate, recurrent_params=("recurrent_kernel",))
class RNN(RecurrentModel, RNNOptions):
    """Vanilla Elman RNN ``h_t = φ(W h_{t-1} + U x_t + b)``; ``x: [B, T, D] -> h: [B, T, H]``.

    Options: ``activation`` in {tanh, relu, linear}; ``recurrent_init`` in
    {orthogonal, identity, normal, critical} scaled by ``recurrent_scale``
    (``critical``: normal at the mean-field critical gain for inputs of standard
    deviation ``critical_input_scale``, default 1.0; see the module docstring); ``num_layers``;
    ``unroll`` (scan unroll factor); ``fused`` (default True: plain calls run the
    hand-written VJP of `elman_cell`, see `seqgrad.models.handwritten_vjp`; False:
    always autodiff of the generic scan, which also supports forward mode).
    """

    layer = ElmanLayer
