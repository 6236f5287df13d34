"""Jacobian profiles at any T and n: ``‖∂h_{T-1}/∂h_{T-1-d}‖_F`` for every d without the ``[T, n, n]`` stack.

`seqgrad.gradflow.state_jacobians` materialises ``J(t) = ∂h_{T-1}/∂h_t`` for every t
(``T·n²`` numbers: 16 GiB in float32 at n = 1024, T = 4096). `jacobian_profile` reads
the same quantities from reverse passes through the model's perturbation site
(`seqgrad.gradflow.adjoints`), keeping ``[T, k]`` numbers per pass:

* **Frobenius norms by probes.** With ``Q = [q_1 … q_k]`` (``[n, k]``, orthonormal
  columns spanning a uniformly random subspace: the QR factor of a Gaussian matrix)
  the orthogonal Hutchinson estimator (Hutchinson 1989)

      F̂(t) = (n/k) Σ_i ‖q_iᵀ J(t)‖²,       E[F̂] = ‖J(t)‖_F²,

      Var F̂ = 2 (n − k) (n Σσ⁴ − (Σσ²)²) / (k (n + 2) (n − 1)),

  σ the singular values of J(t); exact for ``k >= n`` (the identity basis) or equal σ.
  ``frobenius_squared_std`` is the plug-in ``s·sqrt((n−k)/(n k))``, s the sample
  standard deviation of the k terms ``n‖q_iᵀ J(t)‖²``; ``frobenius = sqrt(F̂)``
  (biased low by at most ``Var F̂ / (8 F^{3/2})``). Cost: k reverse passes of T steps.
* **Exact singular values at chosen distances** d: the n basis cotangents give the rows
  of ``J(T-1-d)`` (``[m, n, n]``, m SVDs). A step-wise scan pulls them back through the
  last ``max(d) + 1`` steps only (`seqgrad.gradflow.windows.through_window`): ``n·(max d + 1)``
  reverse steps. When the distances reach T − 1 the basis also gives exact Frobenius norms.

Memory: one forward pass's residuals (O(T·n)) plus one chunk of adjoints
``[probe_batch, T, n]`` (`seqgrad.gradflow.budget.basis_chunk`), never ``T·n²``.
``remat_block=B`` (recurrent models only) keeps ``O(T/B + B)`` carries of residuals
instead of ``O(T)`` for one more forward pass per chunk; ``B ≈ sqrt(T)`` is best.
One sequence ``x: [T, D]`` (vmap over a batch); every registered architecture works
through its perturbation sites. `seqgrad.gradflow.budget.choose_method` picks the
exact stack or this profile from ``T·n²``.
"""

from __future__ import annotations

import functools
import math
import numbers

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from seqgrad.gradflow.adjoints import probe_adjoints
from seqgrad.gradflow.budget import basis_chunk, default_distances
from seqgrad.gradflow.sites import probe_width, site_width
from seqgrad.gradflow.windows import through_window
from seqgrad.models.base import RecurrentModel, check_site

Array = jax.Array


def _positive(key, value, allow_zero=False):
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{key}={value!r} is invalid: it must be an integer >= {low}")


@functools.partial(jax.jit, static_argnames=("model", "site", "k", "probe_batch", "remat_block"))
def _frobenius(model, params, x, key, site, k, probe_batch, remat_block=None):
    """``(F̂ [T], std [T])`` over t (not distance) with k random orthonormal probes (k < n, n the probe width)."""
    n = probe_width(model, params, x, site)
    q, _ = jnp.linalg.qr(jax.random.normal(key, (n, k), x.dtype))
    sq = probe_adjoints(model, params, x, q.T, None, site, probe_batch, remat_block)
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
        return jnp.sum(probe_adjoints(model, params, x, basis, None, site, probe_batch, remat_block), axis=0), None
    sq, rows = probe_adjoints(model, params, x, basis, positions, site, probe_batch, remat_block)
    J = jnp.swapaxes(rows, 0, 1)  # [m, n, n]: J[j][i] = e_iᵀ J(positions[j])
    return jnp.sum(sq, axis=0), jnp.linalg.svd(J, compute_uv=False)[:, :num_singular]


@functools.partial(jax.jit, static_argnames=("model", "site", "window", "num_singular", "probe_batch"))
def _singular_window(model, params, x, positions, site, window, num_singular, probe_batch):
    """Top singular values ``[m, r]`` of ``J`` at ``positions`` (indices into the last ``window`` steps) from the
    n basis cotangents pulled back through those steps only (`perturbation.Window`: the earlier steps run forward
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
        `basis_chunk` equal chunks, ``budget.ADJOINT_BUDGET_BYTES`` of adjoints each);
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
