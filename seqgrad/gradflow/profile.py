"""Jacobian profiles at any T and H: ``‖∂h_{T-1}/∂h_{T-1-d}‖_F`` for every d without the ``[T, H, H]`` stack.

`seqgrad.gradflow.state_jacobians` materialises ``J(t) = ∂h_{T-1}/∂h_t`` for every
t (``T·n²`` numbers, n the site width): 16 GiB in float32 at n = 1024, T = 4096.
`jacobian_profile` measures the same quantities from reverse passes through the
model's perturbation site (`seqgrad.models.recurrence`), keeping only ``[T, k]``
numbers per pass:

* **Frobenius norms by probes.** For a cotangent ``q`` on ``probe_{T-1}``, one
  reverse pass of ``δ ↦ probe_{T-1}`` gives ``qᵀ J(t)`` for *every* t at once (the
  adjoint of ``δ_t``). With ``Q = [q_1 … q_k]`` (``[n, k]``, orthonormal columns
  spanning a uniformly random k-dimensional subspace: the QR factor of a Gaussian
  matrix), the orthogonal Hutchinson estimator

      F̂(t) = (n/k) Σ_i ‖q_iᵀ J(t)‖²,       E[F̂] = ‖J(t)‖_F²,

      Var F̂ = 2 (n − k) (n Σσ⁴ − (Σσ²)²) / (k (n + 2) (n − 1)),

  σ the singular values of J(t) (Hutchinson 1989; the finite-population factor
  ``(n−k)/(n−1)`` comes from the k columns being orthogonal). It is exact (the
  identity basis, variance 0) for ``k >= n``, and also when all σ are equal
  (J ∝ an orthogonal matrix). ``frobenius_squared_std`` is the unbiased plug-in
  ``s·sqrt((n−k)/(n k))``, s the sample standard deviation of the k terms
  ``n‖q_iᵀ J(t)‖²``. ``frobenius`` is ``sqrt(F̂)`` (for k < n biased low by at
  most ``Var F̂ / (8 F^{3/2})``, to second order).
  Cost: one forward pass and k backward passes of one cotangent each (batched
  ``probe_batch`` at a time), O(k·T) steps, whatever the distance. For models
  whose site is a step-wise `recurrence.scan` carry, the reverse pass returns
  ``‖q_iᵀ J(t)‖²`` directly (`recurrence.SquaredNorms`), never the ``[k, T, n]``
  adjoints; other models pull back a ``[T, n]`` perturbation.
* **Exact singular values at chosen distances.** The n basis cotangents give the
  rows of every ``J(t)``; only the rows at the requested distances are kept
  (``[m, n, n]``) and decomposed by SVD. Cost: n backward passes through the last
  ``max(d) + 1`` steps only (a step-wise scan runs the earlier steps forward only,
  `seqgrad.models.recurrence.Window`; other models pull back through all T), so the
  cost follows the request: ``n·(max d + 1)`` matrix-vector products, plus m SVDs of
  ``n × n``. When the distances reach T − 1 the basis covers every t and also gives
  the Frobenius norms exactly.

Memory (both): the residuals of one forward pass (O(T·n), those of any gradient)
plus one chunk of adjoints ``[probe_batch, T, n]`` (``[probe_batch, T]`` for the
Frobenius norms alone through `recurrence.SquaredNorms`), plus the outputs
``[T]`` and ``[m, r]``; never ``T·n²``. The basis is pulled back in chunks of
``probe_batch`` cotangents (default: as many as fit in `ADJOINT_BUDGET_BYTES`,
16 to n, in equal chunks: fewer, wider reverse passes run faster per cotangent);
lower ``probe_batch`` to trade speed for memory.

Rematerialisation (``remat_block=B``): the model's recurrence runs as ``⌈T/B⌉``
`jax.checkpoint`-ed blocks of B steps (`seqgrad.models.recurrence.Remat`: the
request travels with the perturbation down to the top layer's `recurrence.scan`,
no model code involved), so the forward keeps only the ``⌈T/B⌉`` block-boundary
carries and the reverse pass recomputes one block's residuals at a time:
``O(T/B + B)`` carries of residuals instead of ``O(T)``, for one more forward
pass per chunk of ``probe_batch`` cotangents (so it pays for the k probes, one
chunk, more than for the basis, n / probe_batch chunks). ``B ≈ sqrt(T)`` minimises it. The numbers are the same (the test checks
them in float64). Recurrent models only (`RecurrentModel`); a linear recurrence
(LRU, minGRU, mLSTM, S6) runs its associative scan unchanged.

Batch convention: as `state_jacobians`, one sequence ``x: [T, D]`` (vmap over a
batch). Every registered architecture works through its perturbation sites,
Transformer and dilated convolution included (their probe is their output).
`choose_method` picks the exact stack or this profile from ``T·n²``.
"""

from __future__ import annotations

import functools
import math
import numbers

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from seqgrad.models import recurrence
from seqgrad.models.base import RecurrentModel, check_site

Array = jax.Array

METHODS = ("exact", "sketch", "auto")
# auto: the exact [T, n, n] stack while it holds at most this many numbers (256 MiB in float32).
MAX_EXACT_ELEMENTS = 2**26
DEFAULT_NUM_DISTANCES = 64
# Default chunk of basis cotangents: the widest whose adjoints [chunk, T, n] fit in this many bytes (>= 16, <= n);
# 256 MiB: at H = 256, T = 5000 that is 52 per pass, 1.5x faster than 16 (benchmarks/README.md).
ADJOINT_BUDGET_BYTES = 2**28
MIN_BASIS_CHUNK = 16


def basis_chunk(T: int, n: int, itemsize: int = 4, budget: int = ADJOINT_BUDGET_BYTES) -> int:
    """Default ``probe_batch`` for the n basis cotangents: equal chunks of at most ``budget`` bytes of adjoints.

    ``c_max = max(16, budget // (T·n·itemsize))`` (capped at n), then the chunk
    ``⌈n / ⌈n / c_max⌉⌉`` so that all chunks are (nearly) equal.
    """
    widest = min(n, max(MIN_BASIS_CHUNK, budget // max(1, T * n * itemsize)))
    return -(-n // -(-n // widest))


def choose_method(T: int, H: int, method: str = "auto", max_exact_elements: int = MAX_EXACT_ELEMENTS) -> str:
    """``"exact"`` (the `state_jacobians` stack) or ``"sketch"`` (`jacobian_profile`) for length T, width H.

    ``method="auto"`` gives ``"exact"`` while ``T·H² <= max_exact_elements`` (the
    stack's size in numbers; 2²⁶ = 256 MiB in float32), ``"sketch"`` beyond;
    ``"exact"`` and ``"sketch"`` are returned as given.
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r} is invalid; valid choices: {list(METHODS)}")
    if method != "auto":
        return method
    return "exact" if T * H * H <= max_exact_elements else "sketch"


def default_distances(T: int, count: int = DEFAULT_NUM_DISTANCES) -> np.ndarray:
    """About ``count`` distinct distances in ``[0, T-1]``, log-spaced, 0 and ``T-1`` included (all if T <= count)."""
    if T <= count:
        return np.arange(T)
    grid = np.geomspace(1, T, num=min(count, T))
    return np.unique(np.concatenate([[0], np.round(grid).astype(int) - 1, [T - 1]]))


def site_width(model: nn.Module, site: str) -> int:
    """Width n of the perturbation and probe at ``site``."""
    size = getattr(model, "site_size", None)
    return size(site) if callable(size) else model.hidden_size


def probe_width(model: nn.Module, params, x: Array, site: str) -> int:
    """Width m of the probe at ``site``: n where the probe is the state, the output's width otherwise.

    A whole model with a named cell (`seqgrad.models.from_nnx`) perturbs its cell's
    carry (n) and probes its output (m): its Jacobians are ``m × n``.
    """
    return jax.eval_shape(lambda: model.apply(params, x[None], return_probe=True, site=site)[1]).shape[-1]


def _positive(key, value, allow_zero=False):
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{key}={value!r} is invalid: it must be an integer >= {low}")


def _squared_norms(model, params, x, probes, site, probe_batch, remat_block=None):
    """``sq [k, T]``: ``‖q_iᵀ J(t)‖²`` for every t, or None when the model cannot take `recurrence.SquaredNorms`.

    The reverse pass of ``s ↦ probe_{T-1}`` (``s: [T]`` zeros, tapped at the
    perturbation site by `recurrence.scan`) returns ``‖q_iᵀ J(t)‖²`` itself as the
    cotangent of ``s_t``: ``[T]`` numbers per cotangent instead of the ``[T, n]``
    adjoint. Models without a step-wise scan at the site (linear recurrences,
    Transformer, dilated convolution) refuse the request while tracing (or fail
    on it with a TypeError or ValueError): None.
    """
    T = x.shape[0]

    def last_probe(s):
        request = recurrence.SquaredNorms(s[None])
        request = request if remat_block is None else recurrence.Remat(request, remat_block)
        _, probe = model.apply(params, x[None], request, site=site, return_probe=True)
        return probe[0, -1]

    if not isinstance(model, RecurrentModel):
        return None
    try:  # a layer that reshapes its perturbation by hand fails on `s` with its own TypeError or ValueError
        _, pullback = jax.vjp(last_probe, jnp.zeros((T,), x.dtype))
    except (recurrence.SquaredNormsUnsupported, TypeError, ValueError):
        return None  # the caller pulls back a [T, n] perturbation, which raises any real error itself
    return jax.lax.map(lambda q: pullback(q)[0], probes, batch_size=probe_batch)


def _adjoints(model, params, x, probes, positions, site, probe_batch, remat_block=None):
    """``sq [k, T]``: ``‖q_iᵀ J(t)‖²`` for every t; with ``positions`` also ``rows [k, m, n]``: ``q_iᵀ J(positions)``.

    One forward pass (`jax.vjp`), then its pullback applied to ``probe_batch``
    cotangents at a time (`jax.lax.map`, vmapped within a chunk). Without
    ``positions`` the squared norms come from `_squared_norms` where the model
    takes it (no ``[probe_batch, T, n]`` adjoints).
    """
    T, n = x.shape[0], site_width(model, site)
    if positions is None:
        sq = _squared_norms(model, params, x, probes, site, probe_batch, remat_block)
        if sq is not None:
            return sq

    def last_probe(delta):
        delta = delta[None] if remat_block is None else recurrence.Remat(delta[None], remat_block)
        _, probe = model.apply(params, x[None], delta, site=site, return_probe=True)
        return probe[0, -1]

    _, pullback = jax.vjp(last_probe, jnp.zeros((T, n), x.dtype))

    def one(q):
        (adjoint,) = pullback(q)  # [T, n]: row qᵀ J(t) for every t
        sq = jnp.sum(adjoint * adjoint, axis=-1)
        return sq if positions is None else (sq, adjoint[positions])

    return jax.lax.map(one, probes, batch_size=probe_batch)


@functools.partial(jax.jit, static_argnames=("model", "site", "k", "probe_batch", "remat_block"))
def _frobenius(model, params, x, key, site, k, probe_batch, remat_block=None):
    """``(F̂ [T], std [T])`` over t (not distance) with k random orthonormal probes (k < n, n the probe width)."""
    n = probe_width(model, params, x, site)
    q, _ = jnp.linalg.qr(jax.random.normal(key, (n, k), x.dtype))
    sq = _adjoints(model, params, x, q.T, None, site, probe_batch, remat_block)
    terms = n * sq  # [k, T], each unbiased for ‖J(t)‖_F²
    estimate = jnp.mean(terms, axis=0)
    spread = jnp.std(terms, axis=0, ddof=1) if k > 1 else jnp.full_like(estimate, jnp.nan)
    return estimate, spread * math.sqrt((n - k) / (n * k))


@functools.partial(jax.jit, static_argnames=("model", "site", "num_singular", "probe_batch", "remat_block"))
def _exact(model, params, x, positions, site, num_singular, probe_batch, remat_block=None):
    """``(‖J(t)‖_F² [T], top singular values [m, r])`` from the n basis cotangents (n the probe width)."""
    n = probe_width(model, params, x, site)
    basis = jnp.eye(n, dtype=x.dtype)
    if positions.shape[0] == 0:
        return jnp.sum(_adjoints(model, params, x, basis, None, site, probe_batch, remat_block), axis=0), None
    sq, rows = _adjoints(model, params, x, basis, positions, site, probe_batch, remat_block)
    J = jnp.swapaxes(rows, 0, 1)  # [m, n, n]: J[j][i] = e_iᵀ J(positions[j])
    return jnp.sum(sq, axis=0), jnp.linalg.svd(J, compute_uv=False)[:, :num_singular]


def through_window(transform, last, zeros, lead: int):
    """``transform(δ ↦ last(perturbation), zeros)`` (``jax.vjp``, or a jacobian) for a perturbation ``δ: [W, n]``
    of the last W steps after ``lead`` others.

    ``last`` takes the model's batch-major perturbation. A step-wise scan takes it as a `recurrence.Window`
    (the lead runs forward only: W reverse steps per cotangent); a model that refuses it while tracing (an
    associative scan, attention) gets δ padded with ``lead`` zeros (same numbers, L reverse steps).
    """
    if not lead:
        return transform(lambda delta: last(delta[None]), zeros)
    try:
        return transform(lambda delta: last(recurrence.Window(delta[None], lead)), zeros)
    except (recurrence.WindowUnsupported, TypeError, AttributeError):  # not a step-wise scan at the site
        pad = jnp.zeros((lead, zeros.shape[-1]), zeros.dtype)
        return transform(lambda delta: last(jnp.concatenate([pad, delta])[None]), zeros)


@functools.partial(jax.jit, static_argnames=("model", "site", "window", "num_singular", "probe_batch"))
def _singular_window(model, params, x, positions, site, window, num_singular, probe_batch):
    """Top singular values ``[m, r]`` of ``J`` at ``positions`` (indices into the last ``window`` steps) from the
    n basis cotangents pulled back through those steps only (`recurrence.Window`: the earlier steps run forward
    only), n·window reverse steps; models without a step-wise scan at the site pull back through all T."""
    T, n = x.shape[0], site_width(model, site)
    width = probe_width(model, params, x, site)  # the basis lives on the probe: n unless a whole model's output
    lead = T - window

    def last_probe(perturbation):
        _, probe = model.apply(params, x[None], perturbation, site=site, return_probe=True)
        return probe[0, -1]

    _, pullback = through_window(jax.vjp, last_probe, jnp.zeros((window, n), x.dtype), lead)
    rows = jax.lax.map(lambda q: pullback(q)[0][positions], jnp.eye(width, dtype=x.dtype), batch_size=probe_batch)
    return jnp.linalg.svd(jnp.swapaxes(rows, 0, 1), compute_uv=False)[:, :num_singular]  # rows: [n, m, n]


def jacobian_profile(
    model: nn.Module,
    params,
    x: Array,
    *,
    num_probes: int = 16,
    distances=None,
    num_singular: int | None = None,
    seed: int = 0,
    site: str = "hidden",
    probe_batch: int | None = None,
    remat_block: int | None = None,
) -> dict:
    """Frobenius norms at every distance and exact singular values at chosen ones, without the stack.

    Args:
      model, params: a registered seqgrad model and its variables.
      x: one sequence ``[T, D]``.
      num_probes: k, probe cotangents for the Frobenius norms; ``k >= n`` (n the
        site width) gives them exactly (the identity basis), and so does a call whose
        singular values reach the largest distance T − 1 (its n basis cotangents then
        run over the whole sequence and give them for free).
      distances: distances d in ``[0, T-1]`` for the singular values (default:
        `default_distances`, ~64 log-spaced); ``()`` skips them.
      num_singular: r, singular values kept per distance (``<= n``; default
        ``min(8, n)``; 0 skips them).
      seed: seeds the random probes.
      site: the perturbation site, one of ``model.sites``.
      probe_batch: cotangents pulled back together (default: all k; the basis in
        `basis_chunk` equal chunks, ``ADJOINT_BUDGET_BYTES`` of adjoints each);
        memory grows with it as ``probe_batch·T·n``.
      remat_block: B >= 1 to rematerialise the forward pass in `jax.checkpoint`-ed
        blocks of B steps (residual memory ``O(T/B + B)`` carries instead of
        ``O(T)``, one extra forward pass; same numbers); None (default) stores
        every step's residuals. Recurrent models (`RecurrentModel`) only.

    Returns:
      ``{"distance" [T], "frobenius" [T], "frobenius_squared_std" [T],
      "singular_values" [m, r], "singular_distance" [m], "method", "num_probes",
      "site_width"}``; entry d of the first three is distance d (``t = T-1-d``),
      ``method`` is ``"exact"`` (k >= n) or ``"orthogonal_hutchinson"``.
    """
    if x.ndim != 2:
        raise ValueError(f"x must be one sequence [T, D]; got shape {tuple(x.shape)}")
    check_site(model, site)
    T, n = x.shape[0], site_width(model, site)
    width = probe_width(model, params, x, site)  # == n unless the probe is a whole model's output
    _positive("num_probes", num_probes)
    num_singular = min(8, n, width) if num_singular is None else num_singular
    _positive("num_singular", num_singular, allow_zero=True)
    if num_singular > min(n, width):
        raise ValueError(f"num_singular={num_singular!r} is invalid: at most the site width {min(n, width)}")
    if probe_batch is not None:
        _positive("probe_batch", probe_batch)
    if remat_block is not None:
        _positive("remat_block", remat_block)
        if not isinstance(model, RecurrentModel):
            raise ValueError(f"remat_block={remat_block!r} is invalid for {type(model).__name__}: it has no "
                             "recurrence to rematerialise; valid choices: None")
        remat_block = int(remat_block)
    d = default_distances(T) if distances is None else np.asarray(distances, dtype=int).reshape(-1)
    if d.size and (d.min() < 0 or d.max() > T - 1):
        raise ValueError(f"distances={list(d)!r} is invalid: every distance must lie in [0, T-1={T - 1}]")
    if num_singular == 0:
        d = d[:0]
    k = min(num_probes, width)
    positions = jnp.asarray(T - 1 - d, jnp.int32)
    window = int(d.max()) + 1 if d.size else 0
    exact = k == width or window == T  # the basis runs over the whole sequence anyway: its Frobenius norms are free
    sv = None
    if exact:  # the n basis cotangents; their Frobenius norms are exact and free
        chunk = probe_batch or basis_chunk(T, n, x.dtype.itemsize)
        estimate, sv = _exact(model, params, x, positions, site, num_singular, chunk, remat_block)
        k, std = width, jnp.zeros_like(estimate)
    else:
        key = jax.random.key(seed)
        estimate, std = _frobenius(model, params, x, key, site, k, probe_batch or k, remat_block)
        if window:  # the basis only through the last max(d) + 1 steps: n·(max d + 1) reverse steps, not n·T
            chunk = probe_batch or basis_chunk(window, n, x.dtype.itemsize)
            sv = _singular_window(model, params, x, jnp.asarray(window - 1 - d, jnp.int32), site, window,
                                  num_singular, chunk)
    if sv is None:
        sv = jnp.zeros((0, num_singular), x.dtype)
    return {
        "distance": np.arange(T),
        "frobenius": jnp.sqrt(estimate)[::-1],
        "frobenius_squared_std": std[::-1],
        "singular_values": sv,
        "singular_distance": d,
        "method": "exact" if exact else "orthogonal_hutchinson",
        "num_probes": k,
        "site_width": n,
    }
