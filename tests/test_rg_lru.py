"""`rg_lru`: the associative scan against a float64 NumPy loop of De et al. (2024), diag(∏ a), the init and √(1 − a²)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models
from seqgrad.models import rg_lru
from tests.zoo_helpers import (assert_diagonal_product_jacobian, assert_matches_reference, layer_params,
                               random_params, sigmoid)


def numpy_rg_lru(x, p, c=8.0, return_a=False, normalize=True):
    """r, i = σ(u W + b); a = σ(Λ)^(c r); h = a h + √(1 − a²) (i u) (+ i u when not normalize), u = x W_in."""
    H = p["a_param"].shape[0]
    h, hs, a_s = np.zeros((x.shape[0], H)), [], []
    for t in range(x.shape[1]):
        u = x[:, t] @ p["input_kernel"]
        gates = sigmoid(u @ p["gate_kernel"] + p["gate_bias"])
        r, i = gates[:, :H], gates[:, H:]
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
    """Constant a, white v of variance 1: Var(h)/Var(v) → 1 with √(1 − a²), → mean_j 1/(1 − a_j²) without it."""
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
