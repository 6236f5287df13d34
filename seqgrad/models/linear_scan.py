"""Linear recurrences ``s_t = a_t ⊙ s_{t-1} + b_t`` (LRU, minGRU, minLSTM, RG-LRU, S6, mLSTM) as an associative scan.

The perturbation ``δ_t`` is added to ``b_t``, which is the same as adding it to
``s_t`` after the step (for complex ``b`` in the real view ``[Re, Im]`` on the last
axis). A layer hands it over, never adds it by hand:

    s = linear_scan.linear_layer(a, b, perturbation=perturbation, truncate=truncate)  # [B, T, ...]

(time-major: ``linear_recurrence(a, b, perturbation=recurrence.time_major(δ), truncate=truncate)``).
A gated recurrence (minGRU, minLSTM) hands its gates to `gated_layer` instead.
A Lyapunov-tracked perturbation has its exponents measured exactly from ``a``
(`tangent_frame.diagonal`); directly, ``linear_recurrence(..., lyapunov=spec)``
returns ``(s, stats)``. A `perturbation.Remat` block is ignored (an associative scan
has no sequential chain of residuals to cut); `perturbation.Window` and
`perturbation.SquaredNorms` are refused.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from seqgrad.models import tangent_frame
from seqgrad.models.perturbation import (SquaredNorms, SquaredNormsUnsupported, Window, WindowUnsupported,
                                         split_remat)
from seqgrad.models.recurrence import batch_major, time_major
from seqgrad.models.tangent_frame import LyapunovSpec

Array = jax.Array

__all__ = ["gated_layer", "linear_layer", "linear_recurrence", "truncate_inputs"]


def truncate_inputs(a: Array, b: Array, truncate: int | Array | None) -> tuple[Array, Array]:
    """Truncated BPTT for `linear_recurrence`: stops gradients of ``a_t, b_t`` for ``t < T - k``.

    For ``s_t = a_t s_{t-1} + b_t`` this is exactly `recurrence.scan`'s ``truncate``: the
    state entering step ``T - k`` becomes a constant, the last k steps stay differentiable.
    """
    if truncate is None:
        return a, b
    early = (jnp.arange(a.shape[0]) < a.shape[0] - truncate).reshape((-1,) + (1,) * (a.ndim - 1))
    stop = jax.lax.stop_gradient
    return jnp.where(early, stop(a), a), jnp.where(early, stop(b), b)


def linear_recurrence(
    a: Array,
    b: Array,
    initial: Array | None = None,
    *,
    perturbation: Any = None,
    truncate: int | Array | None = None,
    lyapunov: LyapunovSpec | None = None,
):
    """Solves ``s_t = a_t ⊙ s_{t-1} + b_t`` for all t with an associative scan.

    Args:
      a: ``[T, ...]`` multiplicative coefficients (real or complex), broadcastable to ``b``.
      b: ``[T, ...]`` additive inputs.
      initial: optional ``s_{-1}`` of shape ``b.shape[1:]`` (zero if omitted).
      perturbation: optional time-major ``δ`` added to ``b`` (the same as adding it
        to ``s_t`` after the step); for complex ``b`` its real view ``[Re, Im]`` on
        the last axis (twice as wide). May be a `tangent_frame.Tracked` one, or a
        `Remat` one (its block is ignored here).
      truncate: optional k, `truncate_inputs` applied after the perturbation is added
        (so, as in `recurrence.scan`, perturbations before step ``T - k`` are cut off too).
      lyapunov: optional `LyapunovSpec`: also return the exponents of the recurrence.

    Returns:
      ``s``: ``[T, ...]``, or ``(s, LyapunovStats)`` when ``lyapunov`` is given.
      Cost O(T) work, O(log T) depth (Blelloch 1990).
    """
    if isinstance(perturbation, Window):
        raise WindowUnsupported("linear_recurrence takes an array perturbation, not a Window")
    delta, requested, request = tangent_frame.split(split_remat(perturbation)[0])
    if isinstance(delta, SquaredNorms):
        raise SquaredNormsUnsupported("linear_recurrence takes an array perturbation, not SquaredNorms")
    if delta is not None:
        if jnp.iscomplexobj(b) and not jnp.iscomplexobj(delta):
            n = b.shape[-1]
            delta = jax.lax.complex(delta[..., :n], delta[..., n:])
        b = b + delta
    a, b = truncate_inputs(jnp.broadcast_to(a, b.shape), b, truncate)
    if initial is not None:
        b = b.at[0].add(a[0] * initial)
    spec = lyapunov or requested
    stats = None if spec is None else tangent_frame.diagonal(jnp.broadcast_to(a, b.shape), spec)
    if request is not None:
        request.deliver(stats)

    def combine(left, right):
        a_l, b_l = left
        a_r, b_r = right
        return a_r * a_l, a_r * b_l + b_r

    _, s = jax.lax.associative_scan(combine, (a, b), axis=0)
    return s if lyapunov is None else (s, stats)


def linear_layer(a: Array, b: Array, *, perturbation: Any = None, truncate: int | Array | None = None) -> Array:
    """`linear_recurrence` as a layer calls it: time-major ``a, b``, the layer's batch-major perturbation.

    Returns:
      ``s``: ``[B, T, ...]`` (batch-major).
    """
    delta = None if perturbation is None else time_major(perturbation)
    return batch_major(linear_recurrence(a, b, perturbation=delta, truncate=truncate))


def gated_layer(keep: Array, write: Array, candidate: Array, *, perturbation: Any = None,
                truncate: int | Array | None = None) -> tuple[Array, Array]:
    """The layer of a gated linear recurrence ``h_t = keep_t ⊙ h_{t-1} + write_t ⊙ h̃_t`` (minGRU, minLSTM).

    Args:
      keep, write, candidate: time-major ``[T, B, H]``: the gate on ``h_{t-1}``, the gate on the
        candidate, and the candidate ``h̃``, all computed from the input alone.
      perturbation, truncate: as in `linear_layer`.

    Returns:
      ``(h, h)``, both ``[B, T, H]``: the layer's output and its probe, the state the perturbation enters.
    """
    h = linear_layer(keep, write * candidate, perturbation=perturbation, truncate=truncate)
    return h, h
