"""The one shared recurrence: a pure cell step run over time with `jax.lax.scan`.

Every recurrent architecture in seqgrad is written as a *step* on a carry, a dict
of arrays such as ``{"h": [B, H]}`` or ``{"h": [B, H], "c": [B, H]}``:

    carry_t = step(carry_{t-1}, input_t)

and this module runs it over time. It is also where the gradient-flow
perturbation enters: after every step a perturbation ``δ_t`` is added to one
entry of the carry (the *site*),

    carry_t[site] <- carry_t[site] + δ_t,

before the carry is emitted and handed to the next step. With ``δ = 0`` the
output is unchanged, and ``∂ carry_{T-1}[site] / ∂ δ_t`` is exactly
``∂ h_{T-1} / ∂ h_t`` along every path of the recurrence, which is what
`seqgrad.gradflow.state_jacobians` differentiates. No model has to know about
it: a model only names its carry entries.

Linear recurrences ``s_t = a_t ⊙ s_{t-1} + b_t`` (LRU, minGRU) run with
`linear_recurrence`, a `jax.lax.associative_scan`; adding ``δ_t`` after the
step is the same as adding it to ``b_t``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

Array = jax.Array
Carry = dict[str, Array]
Step = Callable[[Carry, Any], Carry]


def scan(
    step: Step,
    carry: Carry,
    inputs: Any,
    *,
    emit: Sequence[str] = ("h",),
    perturbation: Array | None = None,
    site: str = "h",
    truncate: int | Array | None = None,
    unroll: int = 1,
) -> tuple[Carry, dict[str, Array]]:
    """Runs ``step`` over the time axis of ``inputs``.

    Args:
      step: pure function ``(carry, input_t) -> carry``.
      carry: the initial carry, a dict of ``[B, ...]`` arrays.
      inputs: pytree of time-major arrays ``[T, B, ...]``.
      emit: carry entries to stack over time and return.
      perturbation: optional ``[T, B, ...]`` added to ``carry[site]`` after each
        step (shape of ``carry[site]`` per step).
      site: the carry entry the perturbation enters.
      truncate: optional (possibly traced) int k: the carry entering step ``T - k``
        is wrapped in `jax.lax.stop_gradient`, so gradients of anything at steps
        ``>= T - k`` only flow through the last k steps (truncated BPTT). For a
        loss on the last step, ``∂L/∂θ`` then sums exactly the contributions of
        the last k steps, which is how `seqgrad.gradflow` decomposes a weight
        gradient by distance from the loss.
      unroll: `lax.scan` unroll factor.

    Returns:
      ``(final_carry, {name: [T, B, ...] for name in emit})``; emitted values are
      taken after the perturbation, so ``∂ emitted[site][T-1] / ∂ δ_{T-1} = I``.
    """
    if site not in carry:
        raise ValueError(f"perturbation site {site!r} is not a carry entry; valid sites: {sorted(carry)}")

    length = jax.tree.leaves(inputs)[0].shape[0]

    def body(carry, scanned):
        x_t, delta_t, t = scanned
        if truncate is not None:
            cut = t == length - truncate
            carry = jax.tree.map(lambda c: jnp.where(cut, jax.lax.stop_gradient(c), c), carry)
        carry = step(carry, x_t)
        if delta_t is not None:
            carry = {**carry, site: carry[site] + delta_t}
        return carry, {name: carry[name] for name in emit}

    steps = jnp.arange(length) if truncate is not None else None
    return jax.lax.scan(body, carry, (inputs, perturbation, steps), unroll=unroll)


def truncate_inputs(a: Array, b: Array, truncate: int | Array | None) -> tuple[Array, Array]:
    """Truncated BPTT for `linear_recurrence`: stops gradients of ``a_t, b_t`` for ``t < T - k``.

    For ``s_t = a_t s_{t-1} + b_t`` this is exactly `scan`'s ``truncate``: the state
    entering step ``T - k`` becomes a constant, the last k steps stay differentiable.
    """
    if truncate is None:
        return a, b
    early = (jnp.arange(a.shape[0]) < a.shape[0] - truncate).reshape((-1,) + (1,) * (a.ndim - 1))
    stop = jax.lax.stop_gradient
    return jnp.where(early, stop(a), a), jnp.where(early, stop(b), b)


def linear_recurrence(a: Array, b: Array, initial: Array | None = None) -> Array:
    """Solves ``s_t = a_t ⊙ s_{t-1} + b_t`` for all t with an associative scan.

    Args:
      a: ``[T, ...]`` multiplicative coefficients (real or complex).
      b: ``[T, ...]`` additive inputs, same shape as ``a``.
      initial: optional ``s_{-1}`` of shape ``a.shape[1:]`` (zero if omitted).

    Returns:
      ``s``: ``[T, ...]``. Cost O(T) work, O(log T) depth (Blelloch 1990).
    """
    if initial is not None:
        b = b.at[0].add(a[0] * initial)

    def combine(left, right):
        a_l, b_l = left
        a_r, b_r = right
        return a_r * a_l, a_r * b_l + b_r

    _, s = jax.lax.associative_scan(combine, (a, b), axis=0)
    return s


def time_major(x: Array) -> Array:
    """``[B, T, ...] -> [T, B, ...]``."""
    return jnp.swapaxes(x, 0, 1)


def batch_major(x: Array) -> Array:
    """``[T, B, ...] -> [B, T, ...]``."""
    return jnp.swapaxes(x, 0, 1)
