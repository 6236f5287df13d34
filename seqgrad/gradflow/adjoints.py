"""Reverse passes through a model's perturbation site: ``q_iᵀ J(t)`` for every t from one pullback.

For a cotangent ``q`` on ``probe_{T-1}``, one reverse pass of ``δ ↦ probe_{T-1}``
(``δ: [T, n]`` zeros at the site) gives the adjoint of every ``δ_t``,

    g_t = qᵀ J(t),    J(t) = ∂probe_{T-1}/∂δ_t,

whatever the distance. `probe_adjoints` runs one forward pass (`jax.vjp`) and pulls
back ``probe_batch`` cotangents at a time (`jax.lax.map`, vmapped within a chunk),
keeping ``‖g_t‖²`` (``[k, T]``) and, at m chosen positions, the rows ``g_t`` (``[k, m, n]``).
For the squared norms alone a step-wise scan returns ``‖g_t‖²`` itself as the
cotangent of ``s: [T]`` (`seqgrad.models.perturbation.SquaredNorms`): ``[T]`` numbers
per cotangent, never the ``[probe_batch, T, n]`` adjoints. ``remat_block=B`` sends
`seqgrad.models.perturbation.Remat` with the perturbation.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from seqgrad.gradflow.sites import site_width
from seqgrad.models.base import RecurrentModel
from seqgrad.models.perturbation import Remat, SquaredNorms, SquaredNormsUnsupported

Array = jax.Array


def _squared_norms(model, params, x, probes, site, probe_batch, remat_block=None):
    """``sq [k, T]``: ``‖q_iᵀ J(t)‖²`` for every t, or None when the model cannot take `SquaredNorms`.

    The reverse pass of ``s ↦ probe_{T-1}`` (``s: [T]`` zeros, tapped at the
    perturbation site by `recurrence.scan`) returns ``‖q_iᵀ J(t)‖²`` itself as the
    cotangent of ``s_t``: ``[T]`` numbers per cotangent instead of the ``[T, n]``
    adjoint. Models without a step-wise scan at the site (linear recurrences,
    Transformer, dilated convolution) refuse the request while tracing (or fail
    on it with a TypeError or ValueError): None.
    """
    T = x.shape[0]

    def last_probe(s):
        request = SquaredNorms(s[None])
        request = request if remat_block is None else Remat(request, remat_block)
        _, probe = model.apply(params, x[None], request, site=site, return_probe=True)
        return probe[0, -1]

    if not isinstance(model, RecurrentModel):
        return None
    try:  # a layer that reshapes its perturbation by hand fails on `s` with its own TypeError or ValueError
        _, pullback = jax.vjp(last_probe, jnp.zeros((T,), x.dtype))
    except (SquaredNormsUnsupported, TypeError, ValueError):
        return None  # the caller pulls back a [T, n] perturbation, which raises any real error itself
    return jax.lax.map(lambda q: pullback(q)[0], probes, batch_size=probe_batch)


def probe_adjoints(model, params, x, probes, positions, site, probe_batch, remat_block=None):
    """``sq [k, T]``: ``‖q_iᵀ J(t)‖²`` for every t; with ``positions`` also ``rows [k, m, n]``: ``q_iᵀ J(positions)``.

    Args:
      model, params: a seqgrad model and its variables.
      x: one sequence ``[T, D]``.
      probes: ``[k, w]`` cotangents ``q_i`` on ``probe_{T-1}`` (w the probe width).
      positions: ``[m]`` time steps whose rows to keep, or None (squared norms only).
      site: the perturbation site.
      probe_batch: cotangents pulled back together (None: all k).
      remat_block: optional B: rematerialise the forward pass in blocks of B steps.

    One forward pass (`jax.vjp`), then its pullback applied to ``probe_batch``
    cotangents at a time (`jax.lax.map`, vmapped within a chunk). Without
    ``positions`` the squared norms come from the `SquaredNorms` tap where the model
    takes it (no ``[probe_batch, T, n]`` adjoints).
    """
    T, n = x.shape[0], site_width(model, site)
    if positions is None:
        sq = _squared_norms(model, params, x, probes, site, probe_batch, remat_block)
        if sq is not None:
            return sq

    def last_probe(delta):
        delta = delta[None] if remat_block is None else Remat(delta[None], remat_block)
        _, probe = model.apply(params, x[None], delta, site=site, return_probe=True)
        return probe[0, -1]

    _, pullback = jax.vjp(last_probe, jnp.zeros((T, n), x.dtype))

    def one(q):
        (adjoint,) = pullback(q)  # [T, n]: row qᵀ J(t) for every t
        sq = jnp.sum(adjoint * adjoint, axis=-1)
        return sq if positions is None else (sq, adjoint[positions])

    return jax.lax.map(one, probes, batch_size=probe_batch)
