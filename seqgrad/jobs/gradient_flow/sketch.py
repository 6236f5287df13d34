"""The profiles of ``method="sketch"``: Frobenius norms at every distance from probe cotangents, no ``[T, n, n]`` stack."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from seqgrad.gradflow.adjoints import probe_adjoints
from seqgrad.gradflow.budget import default_distances
from seqgrad.gradflow.sites import site_width
from seqgrad.jobs.gradient_flow.config import Windows


def sketch_summaries(entry, config, w: Windows, dtype, params, xs, scales) -> dict:
    """The profiles of ``method="sketch"`` of the inputs ``xs [S, I, L, D]``, without any ``[T, n, n]`` stack:
    ``{"T{T}/quantity": [C, S, I, ...]}``.

    Per sequence and length T, the reverse passes of `seqgrad.gradflow.adjoints` through the
    perturbation site give ``‖J(d)‖_F`` for every d: from ``config.sketch.num_probes`` = k
    random orthonormal probes (orthogonal Hutchinson, unbiased for ``‖J(d)‖_F²``; exact when
    k >= n), or exactly from the n basis cotangents when ``config.sketch.num_singular`` = r > 0,
    which also give the r largest singular values at `default_distances` (NaN at other
    distances). The profile every summary reads (``spectral_norm``) is then ``‖J(d)‖_F``,
    recorded as ``profile_norm = "frobenius"``: ``‖J‖₂ ≤ ‖J‖_F ≤ √n·‖J‖₂``, so ratios to
    ``‖J(1)‖`` and decay rates differ from the spectral ones by at most ``ln √n`` in total.
    The probes' QR and the SVDs run outside the sequence loop (see `_stacks`).
    """
    sk = config.sketch
    lengths, L, B = w.computed, w.sequence_length, w.burn_in
    r = int(sk.num_singular)
    remat = int(sk.remat_block) or None
    n = site_width(entry.model, entry.site)
    k = n if r else min(int(sk.num_probes), n)
    S, I = xs.shape[0], config.num_inputs
    probe_keys = jax.random.split(jax.random.fold_in(jax.random.key(config.seed), 7), scales.shape[0] * S * I)
    gauss = jax.vmap(lambda key: jax.random.normal(key, (n, k), dtype))(probe_keys)
    probes = jnp.swapaxes(jnp.linalg.qr(gauss)[0], -1, -2).reshape(scales.shape[0], S, I, k, n)
    if r or k == n:
        probes = jnp.broadcast_to(jnp.eye(n, dtype=dtype), probes.shape)
    out = {}
    for T in lengths:
        d = default_distances(T) if r else np.zeros((0,), int)
        end = L if B else T  # after a burn-in the window is the last T of L steps
        positions = jnp.asarray(end - 1 - d, jnp.int32)

        def one_seed(seed_params, seed_xs, scale, q_seed):
            def one(args):
                x, q = args
                res = probe_adjoints(entry.model, seed_params, scale * x[:end], q, positions if r else None,
                                     entry.site, None, remat)
                return res if r else (res, jnp.zeros((k, 0, n), dtype))

            return jax.lax.map(one, (seed_xs, q_seed))

        sq, rows = jax.lax.map(
            lambda sq_: jax.lax.map(lambda pkq: one_seed(pkq[0], pkq[1], sq_[0], pkq[2]), (params, xs, sq_[1])),
            (scales, probes))  # sq [C, S, I, k, T], rows [C, S, I, k, m, n]
        frob = jnp.sqrt((n / k) * jnp.sum(sq[..., end - T:], axis=-2))[..., ::-1]  # by distance d = T-1-t
        sv = jnp.full(frob.shape + (max(r, 1),), jnp.nan, dtype)[..., :r]
        if r:
            J = jnp.swapaxes(rows, -3, -2)  # [C, S, I, m, n, n]
            top = jnp.linalg.svd(J, compute_uv=False)[..., :r]
            sv = sv.at[..., jnp.asarray(d), :].set(top)
        out.update({f"T{T}/spectral_norm": frob, f"T{T}/frobenius_norm": frob,
                    f"T{T}/condition_number": jnp.full_like(frob, jnp.nan), f"T{T}/singular_values": sv})
    return out
