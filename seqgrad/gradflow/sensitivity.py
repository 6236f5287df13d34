"""Sensitivity of the last state to the parameters, and the curse of memory.

`parameter_jacobians(model, params, x)`: for one sequence ``x: [T, D]``, the
Jacobian ``∂h_{T-1}/∂θ`` of the model's last output with respect to every
parameter leaf, as a pytree shaped like ``params`` whose leaves are
``[H, *leaf.shape]`` (one reverse pass with H cotangents, one compiled call per
model; the column convention of `jacobians`: ``J[i, ...] = ∂h_{T-1, i}/∂θ[...]``).

The curse of memory (Zucchet & Orvieto 2024, "Recurrent neural networks:
vanishing and exploding gradients are not the end of the story"): for a scalar
recurrence whose memory is set by λ and whose input is scaled by s,

    h_t = λ(θ) h_{t-1} + s(θ) x_t,      x_t i.i.d., E[x] = 0, E[x²] = 1,

``∂h_T/∂θ = λ' Σ_k k λ^(k-1) s x_{T-k} + s' Σ_k λ^k x_{T-k}``, so in the long-T limit

    E[h²]          = s² / (1 − λ²)
    E[(∂h/∂θ)²]    = λ'² s² A + s'² B + 2 λ' s' s C,
    A = (1 + λ²)/(1 − λ²)³,  B = 1/(1 − λ²),  C = λ/(1 − λ²)².

With θ = λ and s = 1 (the plain linear recurrence) this is (1 + λ²)/(1 − λ²)³,
which explodes as (1 − λ)^−3 when the memory grows (λ → 1) although
``∂h_T/∂h_t = λ^(T−t)`` never explodes. `RECURRENCES` lists the parametrisations
compared: the plain one, the LRU's input normalisation γ = √(1 − λ²) (a separate
trainable parameter, so s' = 0 for the λ gradient) and its exponential
parametrisation λ = exp(−exp(ν)) (θ = ν), the LSTM cell path c_t = f c_{t−1} + x_t
with f = σ(b_f) (θ = b_f), and minGRU's h_t = (1 − z) h_{t−1} + z x_t with
z = σ(b) (λ = 1 − z, s = z, θ = b). `closed_form` evaluates the formulas above;
`monte_carlo` measures both moments over sampled sequences (one compiled call:
a `lax.scan` over time of a forward-mode tangent, vmapped over λ and sequences).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


# --------------------------------------------------------------------------- model parameters


@functools.partial(jax.jit, static_argnames=("model",))
def _parameter_jacobians(model, params, x):
    return jax.jacrev(lambda p: model.apply(p, x[None])[0, -1])(params)


def parameter_jacobians(model: nn.Module, params, x: Array):
    """``∂h_{T-1}/∂θ`` for every parameter leaf θ: a pytree like ``params`` with leaves ``[H, *θ.shape]``.

    Args:
      model: a registered seqgrad model (``models.create(...)``).
      params: its variables; float64 params and x give float64 Jacobians (under ``jax.enable_x64``).
      x: one input sequence ``[T, D]``.
    """
    if x.ndim != 2:
        raise ValueError(f"x must be one sequence [T, D]; got shape {tuple(x.shape)}")
    return _parameter_jacobians(model, params, x)


# --------------------------------------------------------------------------- scalar recurrences


def _sigmoid_inverse(p):
    return jnp.log(p) - jnp.log1p(-p)


# name -> (θ from λ, (λ, s) from θ): the recurrence h_t = λ h_{t-1} + s x_t and its trained parameter.
RECURRENCES: dict[str, tuple[Callable, Callable]] = {
    # the linear RNN, θ = λ, s = 1
    "linear": (lambda lam: lam, lambda th: (th, 1.0)),
    # LRU with γ = √(1 − λ²) frozen at its value (its own parameter), θ = λ
    "lru_normalised": (lambda lam: lam, lambda th: (th, jax.lax.stop_gradient(jnp.sqrt(1 - th**2)))),
    # LRU's exponential parametrisation without γ: λ = exp(−exp(ν)), θ = ν
    "lru_exp": (lambda lam: jnp.log(-jnp.log(lam)), lambda th: (jnp.exp(-jnp.exp(th)), 1.0)),
    # the LRU as published: exponential parametrisation and γ normalisation
    "lru_exp_normalised": (
        lambda lam: jnp.log(-jnp.log(lam)),
        lambda th: (jnp.exp(-jnp.exp(th)), jax.lax.stop_gradient(jnp.sqrt(1 - jnp.exp(-2 * jnp.exp(th))))),
    ),
    # the LSTM cell path c_t = f c_{t-1} + x_t (i·g folded into x), f = σ(b_f), θ = b_f
    "lstm_cell": (_sigmoid_inverse, lambda th: (jax.nn.sigmoid(th), 1.0)),
    # minGRU h_t = (1 − z) h_{t-1} + z x_t, z = σ(b), λ = 1 − z, θ = b
    "mingru": (lambda lam: _sigmoid_inverse(1 - lam), lambda th: (1 - jax.nn.sigmoid(th), jax.nn.sigmoid(th))),
}


def _check_name(name: str) -> None:
    if name not in RECURRENCES:
        raise ValueError(f"recurrence={name!r} is unknown; valid choices: {sorted(RECURRENCES)}")


def _lam_s(name: str, theta: Array) -> tuple[Array, Array]:
    """``(λ(θ), s(θ))``, both shaped like ``θ``."""
    lam, s = RECURRENCES[name][1](theta)
    return lam, jnp.asarray(s, theta.dtype) + jnp.zeros_like(theta)


def closed_form(name: str, lam) -> dict[str, np.ndarray]:
    """Long-T ``E[h²]`` and ``E[(∂h/∂θ)²]`` of recurrence ``name`` at memory ``lam`` (array of λ in (0, 1))."""
    _check_name(name)
    lam = jnp.asarray(lam, jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)
    theta = RECURRENCES[name][0](lam)
    # λ' and s' by forward mode: each θ_l only enters entry l.
    (lam_, s), (dlam, ds) = jax.jvp(lambda th: _lam_s(name, th), (theta,), (jnp.ones_like(theta),))
    q = 1 - lam_**2
    a, b, c = (1 + lam_**2) / q**3, 1 / q, lam_ / q**2
    return {
        "state_var": np.asarray(s**2 / q),
        "param_sensitivity": np.asarray(dlam**2 * s**2 * a + ds**2 * b + 2 * dlam * ds * s * c),
    }


@functools.partial(jax.jit, static_argnames=("name", "length", "num_sequences"))
def _monte_carlo(name, lam, key, length, num_sequences):
    x = jax.random.normal(key, (length, num_sequences), lam.dtype)

    def last_state(theta):  # θ: [L] -> h_{T-1}: [L, S]
        lam_t, s = (v[:, None] for v in _lam_s(name, theta))

        def step(h, x_t):
            return lam_t * h + s * x_t[None, :], None

        h, _ = jax.lax.scan(step, jnp.zeros((theta.shape[0], num_sequences), theta.dtype), x)
        return h

    theta = RECURRENCES[name][0](lam)
    h, dh = jax.jvp(last_state, (theta,), (jnp.ones_like(theta),))  # θ_l only enters row l
    return jnp.mean(h**2, axis=1), jnp.mean(dh**2, axis=1)


def monte_carlo(name: str, lam, key: Array, *, length: int, num_sequences: int) -> dict[str, np.ndarray]:
    """``E[h_{T-1}²]`` and ``E[(∂h_{T-1}/∂θ)²]`` over ``num_sequences`` sequences of N(0, 1) inputs.

    ``lam: [L]`` memories; all L × num_sequences recurrences run in one compiled
    `lax.scan` of ``length`` steps from h = 0 (take ``length`` ≫ 1/(1 − λ) for the
    long-T limit). Returns arrays ``[L]``.
    """
    _check_name(name)
    dtype = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    state_var, sens = _monte_carlo(name, jnp.asarray(lam, dtype), key, length, num_sequences)
    return {"state_var": np.asarray(state_var), "param_sensitivity": np.asarray(sens)}
