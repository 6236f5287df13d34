"""`gradflow.jacobian_profile`: Frobenius norms by probes and exact singular values, against the exact stack.

The reference is `state_jacobians` (``[T, n, n]``, reversed to distance order), in
float64. The random-probe estimate is checked against its stated mean and
variance on a linear RNN with a chosen symmetric W, where ``J(d) = W^d`` has the
singular values ``|λ|^d``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models
from seqgrad.gradflow import adjoints, budget, jacobian_profile, profile, state_jacobians
from tests.conftest import SMALL_OPTIONS

T, D, H = 10, 3, 6


def setup(name, dtype=jnp.float64, **extra):
    model = models.create(name, hidden_size=H, **{**SMALL_OPTIONS.get(name, {}), **extra})
    x = jax.random.normal(jax.random.key(0), (T, D), dtype)
    params = jax.jit(model.init)(jax.random.key(1), x[None])
    return model, params, x


CASES = [("rnn", "hidden"), ("lstm", "hidden"), ("lstm", "state"), ("gru", "hidden"), ("lru", "hidden"),
         ("transformer", "hidden"), ("dilated_conv", "hidden")]


@pytest.mark.parametrize("name,site", CASES)
def test_exact_profile_equals_the_stack(name, site):
    distances = [0, 1, 4, T - 1]
    with jax.enable_x64(True):
        model, params, x = setup(name)
        J = np.asarray(state_jacobians(model, params, x, site=site))[::-1]  # [d]
        n = J.shape[-1]
        out = jacobian_profile(model, params, x, num_probes=n, distances=distances, num_singular=3, site=site)
    fro = np.linalg.norm(J, axis=(1, 2))
    sv = np.linalg.svd(J[distances], compute_uv=False)[:, :3]
    assert out["method"] == "exact" and out["site_width"] == n
    np.testing.assert_allclose(out["frobenius"], fro, rtol=1e-9, atol=1e-12 * fro.max())
    np.testing.assert_allclose(out["singular_values"], sv, rtol=1e-9, atol=1e-12 * sv.max())
    np.testing.assert_array_equal(out["singular_distance"], distances)
    assert out["singular_values"].shape == (4, 3) and np.all(np.asarray(out["frobenius_squared_std"]) == 0)


@pytest.mark.parametrize("name,site", [("lstm", "hidden"), ("gru", "hidden"), ("transformer", "hidden")])
def test_singular_values_at_near_distances_pull_back_through_those_steps_only(name, site):
    """Distances up to 3 with k < n probes: the basis runs through the last 4 steps (a step-wise scan never
    reverses the earlier ones; a Transformer is padded), the singular values equal the stack's, and the Frobenius
    norms are the k-probe estimate (method "orthogonal_hutchinson")."""
    distances = [0, 1, 3]
    with jax.enable_x64(True):
        model, params, x = setup(name)
        J = np.asarray(state_jacobians(model, params, x, site=site))[::-1]
        out = jacobian_profile(model, params, x, num_probes=2, distances=distances, num_singular=3, site=site)
        program = str(jax.make_jaxpr(lambda p: profile._singular_window(
            model, p, x, jnp.asarray([3, 2, 0]), site, 4, 3, H))(params))
    sv = np.linalg.svd(J[distances], compute_uv=False)[:, :3]
    np.testing.assert_allclose(out["singular_values"], sv, rtol=1e-9, atol=1e-12 * sv.max())
    assert out["method"] == "orthogonal_hutchinson" and out["num_probes"] == 2
    if name != "transformer":
        assert f"length={T}" not in program and "length=4" in program


def test_k_random_orthonormal_probes_with_k_equal_n_are_exact():
    """(n/k) Σ ‖q_iᵀ J‖² with Q [n, n] orthogonal is ‖QᵀJ‖² = ‖J‖²: the estimator's own code path;
    and the basis pass in chunks (``probe_batch``) of the Frobenius-only call."""
    with jax.enable_x64(True):
        model, params, x = setup("gru")
        J = np.asarray(state_jacobians(model, params, x))
        estimate, _ = profile._frobenius(model, params, x, jax.random.key(3), "hidden", H, H)
        chunked = jacobian_profile(model, params, x, num_probes=H, distances=(), probe_batch=4)
    np.testing.assert_allclose(estimate, np.sum(J**2, axis=(1, 2)), rtol=1e-10)
    np.testing.assert_allclose(chunked["frobenius"], np.linalg.norm(J, axis=(1, 2))[::-1], rtol=1e-10)
    assert chunked["method"] == "exact" and chunked["singular_values"].shape == (0, H)


def linear_rnn(eigenvalues, dtype=jnp.float64):
    """A linear RNN with the symmetric W = V diag(λ) Vᵀ: J(d) = W^d, singular values |λ|^d."""
    n = len(eigenvalues)
    model = models.create("rnn", hidden_size=n, activation="linear")
    x = jax.random.normal(jax.random.key(0), (T, D), dtype)
    params = model.init(jax.random.key(1), x[None])
    V, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(n, n)))
    W = V @ np.diag(eigenvalues) @ V.T
    params["params"]["layer_0"]["recurrent_kernel"] = jnp.asarray(W, dtype)
    return model, params, x


def test_probe_estimate_has_the_stated_mean_and_variance():
    """N = 400 seeds, k = 3 of n = 8: every distance's mean lies within 5 standard errors of ‖J‖_F²
    (CLT, bounded terms: a miss has probability < 1e-6 per distance); the sample variance and the
    reported plug-in variance lie within [0.5, 1.6] of the stated formula (their relative standard
    error at N = 400 is below 0.15 for these bounded terms: > 3 standard errors of room)."""
    lam = np.array([1.0, -0.95, 0.9, 0.8, -0.7, 0.5, 0.3, 0.1])
    n, k, N = len(lam), 3, 400
    with jax.enable_x64(True):
        model, params, x = linear_rnn(lam)
        runs = [jacobian_profile(model, params, x, num_probes=k, distances=(), seed=s) for s in range(N)]
    estimates = np.stack([np.asarray(r["frobenius"]) ** 2 for r in runs])  # [N, T]
    reported = np.stack([np.asarray(r["frobenius_squared_std"]) ** 2 for r in runs])
    assert runs[0]["method"] == "orthogonal_hutchinson" and runs[0]["num_probes"] == k
    d = np.arange(T)
    s2, s4 = (np.abs(lam)[None] ** (2 * d[:, None])).sum(1), (np.abs(lam)[None] ** (4 * d[:, None])).sum(1)
    variance = 2 * (n - k) * (n * s4 - s2**2) / (k * (n + 2) * (n - 1))
    assert np.all(np.abs(estimates.mean(0) - s2) <= 5 * np.sqrt(variance / N) + 1e-12)
    np.testing.assert_allclose(estimates[:, 0], n, rtol=1e-12)  # J(0) = I: every probe is exact
    ratio, plug_in = estimates[:, 1:].var(0, ddof=1) / variance[1:], reported[:, 1:].mean(0) / variance[1:]
    assert np.all((0.5 < ratio) & (ratio < 1.6)), ratio
    assert np.all((0.5 < plug_in) & (plug_in < 1.6)), plug_in


def test_orthogonal_w_is_estimated_exactly_by_any_probe():
    """All singular values equal (|λ| = 1): the variance formula is 0, and so is the error."""
    with jax.enable_x64(True):
        model, params, x = linear_rnn(np.array([1.0, -1.0, 1.0, 1.0, -1.0]))
        out = jacobian_profile(model, params, x, num_probes=2, distances=(), seed=7)
    np.testing.assert_allclose(out["frobenius"], np.sqrt(5.0), rtol=1e-12)


def test_default_distances_are_log_spaced_and_cover_both_ends():
    d = budget.default_distances(20_000)
    assert d[0] == 0 and d[-1] == 19_999 and np.all(np.diff(d) > 0) and 50 <= len(d) <= 66
    np.testing.assert_array_equal(budget.default_distances(5), np.arange(5))


def test_choose_method():
    assert budget.choose_method(128, 32) == "exact"
    assert budget.choose_method(8192, 512) == "sketch"
    assert budget.choose_method(8192, 512, "exact") == "exact"
    assert budget.choose_method(100, 10, max_exact_elements=9_999) == "sketch"
    with pytest.raises(ValueError, match="method='fast' is invalid; valid choices"):
        budget.choose_method(10, 10, "fast")


@pytest.mark.parametrize(
    "kwargs,match",
    [({"num_probes": 0}, "num_probes=0"), ({"num_singular": H + 1}, "num_singular=7"),
     ({"distances": [0, T]}, "distances="), ({"site": "cell"}, "site='cell'"), ({"probe_batch": 0}, "probe_batch=0"),
     ({"remat_block": 0}, "remat_block=0")],
)
def test_bad_arguments_are_named(kwargs, match):
    model, params, x = setup("gru", jnp.float32)
    with pytest.raises(ValueError, match=match):
        jacobian_profile(model, params, x, **kwargs)
    with pytest.raises(ValueError, match="one sequence"):
        jacobian_profile(model, params, x[None])


REMAT_CASES = [("lstm", "state", 3), ("gru", "hidden", 4), ("rnn", "hidden", 1), ("lru", "hidden", 3),
               ("lstm", "hidden", T)]


@pytest.mark.parametrize("name,site,block", REMAT_CASES)
def test_rematerialised_profile_gives_the_same_numbers(name, site, block):
    """``remat_block=B`` (checkpointed blocks of B steps, B not dividing T = 10 included) changes only what
    the reverse pass stores: Frobenius norms by probes and exact singular values equal the plain pass's."""
    with jax.enable_x64(True):
        model, params, x = setup(name)
        plain = jacobian_profile(model, params, x, num_probes=3, distances=(), seed=1, site=site)
        remat = jacobian_profile(model, params, x, num_probes=3, distances=(), seed=1, site=site, remat_block=block)
        exact = jacobian_profile(model, params, x, distances=[0, 2, T - 1], num_singular=2, site=site)
        exact_remat = jacobian_profile(model, params, x, distances=[0, 2, T - 1], num_singular=2, site=site,
                                       remat_block=block)
    for key in ("frobenius", "frobenius_squared_std"):
        np.testing.assert_allclose(remat[key], plain[key], rtol=1e-12, atol=0)
    for key in ("frobenius", "singular_values"):
        np.testing.assert_allclose(exact_remat[key], exact[key], rtol=1e-12, atol=0)


def test_remat_block_is_refused_without_a_recurrence():
    model, params, x = setup("transformer", jnp.float32)
    with pytest.raises(ValueError, match="remat_block=2 is invalid for Transformer"):
        jacobian_profile(model, params, x, remat_block=2)


def test_basis_chunk_fits_the_budget_in_equal_chunks():
    nbytes = 2**28
    assert budget.basis_chunk(2000, 256, budget=nbytes) == 128  # 131 adjoints [2000, 256] fit: 2 chunks of 128
    chunk = budget.basis_chunk(5000, 256, budget=nbytes)  # 52 fit: 5 chunks of 52 (the last one 48)
    assert chunk == 52 and chunk * 5000 * 256 * 4 <= nbytes
    assert budget.basis_chunk(20_000, 256, budget=nbytes) == budget.MIN_BASIS_CHUNK  # 13 fit: the floor
    assert budget.basis_chunk(2000, 256, budget=2**40) == 256
    assert budget.basis_chunk(100, 6) == 6


@pytest.mark.parametrize("block,truncate", [(3, None), (5, None), (4, 6), (1, None)])
def test_blocked_scan_has_the_plain_values_and_gradients_and_checkpoints(block, truncate):
    """`recurrence.scan(remat_block=B)` on h_t = tanh(h_{t-1} W + x_t) + δ_t: the same outputs, final carry and
    gradients (w.r.t. W and δ, truncated BPTT included) as the plain scan, with `jax.checkpoint` in its jaxpr."""
    from seqgrad.models import recurrence

    with jax.enable_x64(True):
        kw, kx = jax.random.split(jax.random.key(4))
        W = jax.random.normal(kw, (H, H), jnp.float64) / np.sqrt(H)
        xs = jax.random.normal(kx, (T, 1, H), jnp.float64)

        def loss(W, delta, remat):
            step = lambda c, x_t: {"h": jnp.tanh(c["h"] @ W + x_t)}  # noqa: E731
            carry, out = recurrence.scan(step, {"h": jnp.zeros((1, H), jnp.float64)}, xs, perturbation=delta,
                                         truncate=truncate, remat_block=remat)
            return jnp.sum(out["h"] ** 3) + jnp.sum(jnp.sin(carry["h"])), out["h"]

        delta = jnp.zeros((T, 1, H), jnp.float64)
        (plain, h_plain), g_plain = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(W, delta, None)
        (remat, h_remat), g_remat = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(W, delta, block)
        jaxpr = str(jax.make_jaxpr(jax.grad(lambda W: loss(W, delta, block)[0]))(W))
    np.testing.assert_allclose(remat, plain, rtol=1e-13)
    np.testing.assert_allclose(h_remat, h_plain, rtol=1e-13)
    for a, b in zip(g_remat, g_plain):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    assert "checkpoint" in jaxpr or "remat" in jaxpr


@pytest.mark.parametrize("name,site", CASES + [("mingru", "hidden"), ("slstm", "hidden"), ("mlstm", "hidden")])
def test_frobenius_alone_equals_the_stack_with_or_without_squared_norm_taps(name, site):
    """Frobenius norms alone (``distances=()``, k = n): through `perturbation.SquaredNorms` (step-wise scans: the
    reverse pass returns ‖e_iᵀ J(t)‖² directly) or a pulled-back perturbation (the others); both are the stack's."""
    with jax.enable_x64(True):
        model, params, x = setup(name)
        J = np.asarray(state_jacobians(model, params, x, site=site))[::-1]
        n = J.shape[-1]
        out = jacobian_profile(model, params, x, num_probes=n, distances=(), site=site)
        tapped = adjoints._squared_norms(model, params, x, jnp.eye(n, dtype=x.dtype), site, n)
    fro = np.linalg.norm(J, axis=(1, 2))
    np.testing.assert_allclose(out["frobenius"], fro, rtol=1e-9, atol=1e-12 * fro.max())
    scan_based = name not in ("lru", "mingru", "mlstm", "transformer", "dilated_conv")
    assert (tapped is not None) == scan_based
    if scan_based:
        np.testing.assert_allclose(np.sqrt(np.asarray(tapped).sum(axis=0))[::-1], fro, rtol=1e-9, atol=1e-12 * fro.max())
