"""`rg_lru`: the associative scan against a float64 NumPy loop of De et al. (2024), diag(∏ a), the init and √(1 − a²)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models
from tests.zoo_helpers import assert_diagonal_product_jacobian, assert_matches_reference, sigmoid


def numpy_rg_lru(x, p, c=8.0, return_a=False):
    """r, i = σ(u W + b); a = σ(Λ)^(c r); h = a h + √(1 − a²) (i u), u = x W_in; sequentially."""
    H = p["a_param"].shape[0]
    h, hs, a_s = np.zeros((x.shape[0], H)), [], []
    for t in range(x.shape[1]):
        u = x[:, t] @ p["input_kernel"]
        gates = sigmoid(u @ p["gate_kernel"] + p["gate_bias"])
        r, i = gates[:, :H], gates[:, H:]
        a = sigmoid(p["a_param"]) ** (c * r)
        h = a * h + np.sqrt(1 - a**2) * (i * u)
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
