"""`rg_lru`: the associative scan against a float64 NumPy loop of De et al. (2024), diag(∏ a), the init and √(1 − a²)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models
from seqgrad.gradflow import predictions
from seqgrad.models import rg_lru
from tests.zoo_helpers import (assert_diagonal_product_jacobian, assert_matches_reference, layer_params,
                               random_params, sigmoid, state_jacobians)


def numpy_rg_lru(x, p, c=8.0, return_a=False, normalize=True, constant_gate=False):
    """r, i = σ(u W + b); a = σ(Λ)^(c r); h = a h + √(1 − a²) (i u) (+ i u when not normalize), u = x W_in;
    r = 1 when constant_gate."""
    H = p["a_param"].shape[0]
    h, hs, a_s = np.zeros((x.shape[0], H)), [], []
    for t in range(x.shape[1]):
        u = x[:, t] @ p["input_kernel"]
        gates = sigmoid(u @ p["gate_kernel"] + p["gate_bias"])
        r, i = (np.ones_like(u) if constant_gate else gates[:, :H]), gates[:, H:]
        a = sigmoid(p["a_param"]) ** (c * r)
        h = a * h + (np.sqrt(1 - a**2) if normalize else 1.0) * (i * u)
        hs.append(h)
        a_s.append(a)
    return (np.stack(hs, 1), np.stack(a_s, 1)) if return_a else np.stack(hs, 1)


@pytest.mark.parametrize("num_layers, c", [(1, 8.0), (2, 3.0)])
def test_associative_scan_equals_sequential_loop(num_layers, c):
    assert_matches_reference("rg_lru", numpy_rg_lru, num_layers=num_layers, c=c, reference_options=dict(c=c))


def test_state_jacobian_is_the_product_of_a():
    assert_diagonal_product_jacobian("rg_lru", lambda x, p: numpy_rg_lru(x, p, return_a=True)[1][0])


def test_init_puts_sigma_lambda_to_the_c_in_the_ring():
    model = models.create("rg_lru", hidden_size=512)
    lam = np.asarray(jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, 2, 3)))["params"]["layer_0"]["a_param"])
    a_c = sigmoid(lam.astype(np.float64)) ** 8
    assert a_c.min() >= 0.9 - 1e-6 and a_c.max() <= 0.999 + 1e-6
    assert abs(a_c.mean() - (0.9 + 0.999) / 2) < 0.01  # uniform on [0.9, 0.999]: mean 0.9495


def test_normalisation_keeps_the_input_variance():
    """Gates fixed open (r = i = 1), u = x white noise of variance 1: E[h²] = (1 − a²)/(1 − a²) = 1 for every a."""
    T, H = 1500, 8
    model = models.create("rg_lru", hidden_size=H)
    x = jax.random.normal(jax.random.key(2), (64, T, H))
    p = jax.jit(model.init)(jax.random.key(3), x[:, :2])
    root = np.linspace(0.5, 0.95, H) ** (1 / 8)  # a = σ(Λ)^8 from 0.5 to 0.95 across the units
    layer = dict(p["params"]["layer_0"])
    layer.update(input_kernel=jnp.eye(H), gate_kernel=jnp.zeros((H, 2 * H)), gate_bias=jnp.full((2 * H,), 40.0),
                 a_param=jnp.asarray(np.log(root / (1 - root)), jnp.float32))
    h = np.asarray(jax.jit(model.apply)({"params": {"layer_0": layer}}, x))
    variance = (h[:, 500:] ** 2).mean(axis=(0, 1))  # per unit, after the transient (0.95^500 < 1e-11)
    np.testing.assert_allclose(variance, 1.0, rtol=0.06)  # Monte Carlo: 64 × 1000 correlated samples per unit


def test_bad_ring_is_rejected():
    with pytest.raises(ValueError, match="a_min=0.9, a_max=0.5 are invalid"):
        models.create("rg_lru", hidden_size=4, a_min=0.9, a_max=0.5)


@pytest.mark.parametrize("num_layers", [1, 2])
def test_unnormalized_option_equals_numpy_loop(num_layers):
    """normalize=False: h_t = a_t ⊙ h_(t−1) + i_t ⊙ u_t, against the float64 loop with the factor dropped."""
    assert_matches_reference("rg_lru", numpy_rg_lru, num_layers=num_layers, normalize=False,
                             reference_options=dict(normalize=False))


@pytest.mark.parametrize("normalize", [True, False])
def test_layer_terms_is_the_layer(normalize):
    """The pure function gives the layer's state, a_t and v_t = i_t ⊙ u_t of the NumPy loop (float64)."""
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(5), (1, 12, 3), jnp.float64)
        model = models.create("rg_lru", hidden_size=4, normalize=normalize)
        params = random_params(model, x, scale=0.7)
        terms = rg_lru.layer_terms(params["params"]["layer_0"], x[0], normalize=normalize)
        p = layer_params(params)
        h, a = numpy_rg_lru(np.asarray(x), p, return_a=True, normalize=normalize)
        np.testing.assert_allclose(terms["h"], h[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(terms["h"], model.apply(params, x)[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(terms["a"], a[0], rtol=1e-12)
        u = np.asarray(x[0]) @ p["input_kernel"]
        i = sigmoid(u @ p["gate_kernel"] + p["gate_bias"])[:, 4:]
        np.testing.assert_allclose(terms["v"], i * u, rtol=1e-12, atol=1e-12)


def _open_gates(model, H, a):
    """Params with r = i = 1 (gate bias 40), u = x (W_in = I) and a constant a per unit: σ(Λ)^8 = a."""
    root = np.asarray(a, np.float64) ** (1 / 8)
    p = model.init(jax.random.key(3), jnp.zeros((1, 2, H)))
    layer = dict(p["params"]["layer_0"])
    layer.update(input_kernel=jnp.eye(H), gate_kernel=jnp.zeros((H, 2 * H)), gate_bias=jnp.full((2 * H,), 40.0),
                 a_param=jnp.asarray(np.log(root / (1 - root)), jnp.float32))
    return {"params": {"layer_0": layer}}


def test_variance_ratio_is_one_normalised_and_one_over_one_minus_a_squared_not():
    """Open gates, white v of variance 1: Var(h)/[(1 − a^(2(t+1)))·Var(v)] is 1 with √(1 − a²) and, after 600
    steps (a^1200 < 1e-50), mean_j 1/(1 − a_j²) without it."""
    T, H, I = 1200, 4, 96
    a = np.array([0.5, 0.7, 0.8, 0.9])
    xs = jax.random.normal(jax.random.key(2), (I, T, H))
    expected = {True: 1.0, False: float(np.mean(1 / (1 - a**2)))}  # Σ_j Var(h_j) / Σ_j Var(v_j), Var(v_j) = 1
    for normalize, value in expected.items():
        model = models.create("rg_lru", hidden_size=H, normalize=normalize)
        ratio = float(jax.jit(lambda p, x: rg_lru.state_variance_ratio(model, p, x))(_open_gates(model, H, a), xs))
        assert ratio == pytest.approx(value, rel=0.05), (normalize, ratio, value)  # Monte Carlo: 96 × 600 samples
    assert np.isnan(float(rg_lru.state_variance_ratio(model, _open_gates(model, H, a), xs[:1])))  # I = 1: no variance


def test_bad_normalize_is_rejected():
    with pytest.raises(ValueError, match="normalize='yes' is invalid: valid choices: \\[True, False\\]"):
        models.create("rg_lru", hidden_size=4, normalize="yes")


def _with_a(params, a, c=8.0):
    """``params`` with σ(Λ)^c = a per unit (float64)."""
    root = np.asarray(a, np.float64) ** (1 / c)
    layer = dict(params["params"]["layer_0"], a_param=jnp.asarray(np.log(root / (1 - root))))
    return {"params": {"layer_0": layer}}


def _constant_gate_params(H, a, seed=4):
    """Random weights (the input gate reads u, so v = i ⊙ u is not Gaussian) with σ(Λ)^8 = a per unit."""
    model = models.create("rg_lru", hidden_size=H, constant_gate=True)
    return model, _with_a(random_params(model, jnp.zeros((1, 2, H), jnp.float64), seed=seed, scale=1.0), a)


@pytest.mark.parametrize("num_layers", [1, 2])
def test_constant_gate_equals_numpy_loop(num_layers):
    """constant_gate=True: r_t = 1, a = σ(Λ)^c in every step, against the float64 loop."""
    assert_matches_reference("rg_lru", numpy_rg_lru, num_layers=num_layers, constant_gate=True, c=3.0,
                             reference_options=dict(constant_gate=True, c=3.0))


def _jacobians(constant_gate, a, T, seed=7):
    """float64 ``J[t] = ∂h_(T−1)/∂h_t`` of a one-layer RG-LRU on random weights with σ(Λ)^8 = a."""
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(seed), (1, T, 3), jnp.float64)
        model = models.create("rg_lru", hidden_size=len(a), constant_gate=constant_gate)
        return state_jacobians(model, _with_a(random_params(model, x, scale=1.0), a), x)


def test_constant_gate_jacobian_is_diag_a_to_the_distance():
    """float64: ∂h_(T−1)/∂h_(T−1−d) = diag(a^d), a = σ(Λ)^c (`predictions.diagonal_jacobian`), to 1e-10, and
    ‖J(d)‖₂ falls at ln max_c a_c (`predictions.diagonal_rate`)."""
    T, a = 40, np.array([0.85, 0.9, 0.95, 0.97, 0.99])
    J = _jacobians(True, a, T)
    for t in range(T):
        np.testing.assert_allclose(J[t], np.diag(predictions.diagonal_jacobian(a, T - 1 - t)), rtol=1e-10, atol=1e-300)
    norms = np.linalg.norm(J[::-1], ord=2, axis=(1, 2))  # by distance d
    slope = np.polyfit(np.arange(1, T), np.log(norms[1:]), 1)[0]
    assert slope == pytest.approx(predictions.diagonal_rate(a), rel=1e-10)  # ln 0.99


def test_the_default_gate_is_not_constant():
    """Without the option a_t = σ(Λ)^(c·r_t) varies with the input: J(1) = diag(a_(T−1)) is not diag(σ(Λ)^c)."""
    a = np.array([0.85, 0.9, 0.95, 0.99])
    J = _jacobians(False, a, 12)
    assert np.max(np.abs(np.diagonal(J[-2]) / a - 1)) > 0.01


A = np.array([0.5, 0.9, 0.97, 0.995])


def _ensemble(normalize=True, I=4000, T=48, seed=11):
    """float64 terms of I white-noise sequences through a one-layer constant-gate RG-LRU with a = A."""
    with jax.enable_x64(True):
        model, params = _constant_gate_params(len(A), A)
        model = model.clone(normalize=normalize)
        xs = jax.random.normal(jax.random.key(seed), (I, T, len(A)), jnp.float64)
        terms = jax.jit(jax.vmap(lambda x: rg_lru.layer_terms(params["params"]["layer_0"], x, normalize=normalize,
                                                             constant_gate=True)))(xs)
        return model, params, xs, {k: np.asarray(v) for k, v in terms.items()}


def test_zero_state_variance_follows_its_closed_form():
    """Constant a, white x: Var_i(h_t) = (1 − a^(2(t+1)))·Var(v) at every step t and unit, within the sampling error
    of an ensemble variance over 4000 sequences; the stationary value Var(v) alone is rejected at small t."""
    _, _, _, terms = _ensemble()
    h, v = terms["h"], terms["v"]  # [I, T, H]
    I, T = h.shape[:2]
    np.testing.assert_allclose(terms["a"], np.broadcast_to(A, terms["a"].shape), rtol=1e-12)
    var_v = v.reshape(-1, len(A)).var(axis=0, ddof=1)  # v_t i.i.d. over t and sequences: pooled
    dev = (h - h.mean(axis=0)) ** 2
    var_h = dev.sum(axis=0) / (I - 1)  # [T, H]
    error = dev.std(axis=0, ddof=1) / np.sqrt(I)  # standard error of each ensemble variance
    closed = predictions.zero_state_variance_fraction(A, np.arange(T)[:, None]) * var_v
    z = (var_h - closed) / error
    assert np.max(np.abs(z)) < 4.5, np.max(np.abs(z))
    assert np.max(np.abs((var_h - var_v) / error)) > 20  # without the start-up share the test fails
    with jax.enable_x64(True):
        fraction = np.asarray(rg_lru.zero_state_fraction(jnp.asarray(terms["a"][0])))
    np.testing.assert_allclose(fraction, predictions.zero_state_variance_fraction(A, np.arange(T)[:, None]), rtol=1e-12)


@pytest.mark.parametrize("normalize", [True, False])
def test_variance_hook_is_its_closed_form_within_sampling_error(normalize):
    """The hook's Σ Var(h)/Σ (1 − a^(2(t+1)))·Var(v) over the second half: 1 with √(1 − a²), the F·Var(v)-weighted
    mean of 1/(1 − a²) without it, within 4 standard errors (from 10 independent batches of sequences)."""
    model, params, xs, terms = _ensemble(normalize, I=2000, T=200)
    v = terms["v"]
    T, half = v.shape[1], v.shape[1] // 2
    var_v = v.reshape(-1, len(A)).var(axis=0, ddof=1)
    F = predictions.zero_state_variance_fraction(A, np.arange(half, T)[:, None])  # [T − half, H]
    expected = 1.0 if normalize else float(np.sum(F * var_v / (1 - A**2)) / np.sum(F * var_v))
    with jax.enable_x64(True):
        hook = jax.jit(lambda x: rg_lru.state_variance_ratio(model, params, x))
        ratio = float(hook(xs))
        batches = [float(hook(b)) for b in np.split(np.asarray(xs), 10)]
    error = np.std(batches, ddof=1) / np.sqrt(10)
    assert abs(ratio - expected) < 4 * error, (ratio, expected, error)
    if normalize:  # precise enough to reject the plain Σ Var(h)/Σ Var(v), below 1 by the start-up share (0.97)
        plain = terms["h"][:, half:].var(axis=0, ddof=1).sum() / v[:, half:].var(axis=0, ddof=1).sum()
        assert abs(plain - expected) > 4 * error, (plain, error)


def test_bad_constant_gate_is_rejected():
    with pytest.raises(ValueError, match="constant_gate='yes' is invalid: valid choices: \\[True, False\\]"):
        models.create("rg_lru", hidden_size=4, constant_gate="yes")
