"""Gradient-flow snapshots during training, computed where the replicas live.

A snapshot is, for each replica r and distance d = 0 … T-1,

    norms[r, d] = ‖∂h_{T-1}/∂h_{T-1-d}‖₂          [R, T]

on one evaluation sequence of that replica (`seqgrad.gradflow.state_jacobians`).

Layout: the state's replica axis is split over the mesh axis ``"replica"``
(`seqgrad.train.distributed.state_sharding`). The snapshot runs under
``jax.shard_map`` with that same split, so every device computes the snapshots of
the replicas it already holds and the program contains no collective at all (no
all-gather of parameters, whatever the mesh shape); devices along ``"data"``
compute the same values redundantly.

Spectral norm without LAPACK: on several host devices a LAPACK SVD
(``jnp.linalg.norm(ord=2)``) inside a multi-device program can deadlock XLA's CPU
thread pool, so `spectral_norm` uses matrix multiplications only:

    A = JᵀJ / ‖J‖_F²                      (eigenvalues σ_i² / Σ σ_j² ∈ [0, 1])
    A_k = A_{k-1}² / ‖A_{k-1}²‖_F         (k = 1 … K: A_K ∝ A^(2^K))
    v = the largest column of A_K         (≈ the top right singular vector)
    σ_1 = ‖J v‖ / ‖v‖                     (exact for v in the top singular space)

A_K is, up to scale, Σ_i λ_i^(2^K) u_i u_iᵀ, so the component of v outside the top
eigenspace shrinks like (σ_2/σ_1)^(2^(K+1)); the Rayleigh-type estimate is
accurate to the square of that. Equal top singular values need no gap (any v in
their span is exact). Dividing J by max |J_ij| and then ‖J‖_F first keeps vanishing
Jacobians (σ ~ 1e-30) out of float32 underflow.
"""

from __future__ import annotations

import jax
from jax.sharding import PartitionSpec

from seqgrad.gradflow import spectra

# The estimator lives with the other spectral summaries; `spectral_norm` is its name here.
SQUARINGS = spectra.SQUARINGS
spectral_norm = spectra.spectral_norm_by_squaring


def make_snapshot(model, task, replica_keys_tag: int, mesh=None, batch_size: int = 1):
    """The jitted snapshot ``(params [R, ...], key_data [R, 2]) -> norms [R, T]``.

    Args:
      model: the seqgrad model (``params["model"]`` are its variables).
      task: the task; the sequence is its first evaluation sequence under the
        replica's key folded with ``replica_keys_tag``.
      mesh: the run's ``("replica", "data")`` mesh, or None on one device.
      batch_size: replicas per ``lax.map`` iteration on a device (1 = one at a time).
    """
    from seqgrad.gradflow import state_jacobians

    def one(params, key_data):
        key = jax.random.fold_in(jax.random.wrap_key_data(key_data), replica_keys_tag)
        x = task.eval_batch(key, 1)[0][0]  # one sequence [T, D]
        jac = state_jacobians(model, params["model"], x)  # [T, H, H]
        return spectral_norm(jac)[::-1]  # index = distance T-1-t

    def local(params, keys):  # the replicas held by one device, one after the other
        return jax.lax.map(lambda a: one(*a), (params, keys), batch_size=batch_size if batch_size > 1 else None)

    if mesh is None:
        return jax.jit(local)
    spec = PartitionSpec("replica")
    # check_vma=False: the model's scans start from constant carries, which the
    # varying-axis check would reject; the body has no collective to check.
    return jax.jit(jax.shard_map(local, mesh=mesh, in_specs=(spec, spec), out_specs=spec, check_vma=False))
