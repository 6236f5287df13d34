"""`mingru`: the associative scan against a sequential NumPy loop and the closed-form state Jacobian.

Reference written from Feng et al. (2024), float64: ``z_t = σ(x_t W_z + b_z)``,
``h̃_t = g(x_t W_h + b_h)``, ``h_t = (1 − z_t) h_{t−1} + z_t h̃_t``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models
from seqgrad.models.mingru import g


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


NUMPY_G = {"linear": lambda v: v, "g": lambda v: np.where(v >= 0, v + 0.5, sigmoid(v))}


def numpy_mingru_layer(x, p, activation):
    """Sequential loop; returns (h [B, T, H], z [B, T, H])."""
    batch, T, _ = x.shape
    h = np.zeros((batch, p["gate_bias"].shape[0]))
    hs, zs = [], []
    for t in range(T):
        z = sigmoid(x[:, t] @ p["gate_kernel"] + p["gate_bias"])
        candidate = NUMPY_G[activation](x[:, t] @ p["candidate_kernel"] + p["candidate_bias"])
        h = (1 - z) * h + z * candidate
        hs.append(h)
        zs.append(z)
    return np.stack(hs, 1), np.stack(zs, 1)


def random_params(model, x, seed=0, scale=0.5):
    """Parameters of ``model``'s structure drawn i.i.d. N(0, scale²) in NumPy: any weights will do for a reference."""
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(model.init, jax.random.key(0), x)
    return jax.tree.map(lambda s: jnp.asarray(scale * rng.standard_normal(s.shape), s.dtype), shapes)


@pytest.mark.parametrize("activation, num_layers", [("linear", 1), ("g", 1), ("linear", 2)])
def test_associative_scan_equals_sequential_loop(activation, num_layers):
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(0), (2, 13, 3), jnp.float64)
        model = models.create("mingru", hidden_size=5, activation=activation, num_layers=num_layers, gate_bias=-1.0)
        params = random_params(model, x)
        expected = np.asarray(x)
        for index in range(num_layers):
            p = {k: np.asarray(v) for k, v in params["params"][f"layer_{index}"].items()}
            expected, _ = numpy_mingru_layer(expected, p, activation)
        np.testing.assert_allclose(jax.jit(model.apply)(params, x), expected, rtol=1e-12, atol=1e-12)


def test_gate_bias_sets_the_initial_gate():
    model = models.create("mingru", hidden_size=4, gate_bias=-2.0)
    p = jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, 2, 3)))["params"]["layer_0"]
    np.testing.assert_array_equal(p["gate_bias"], -2.0 * np.ones(4))


def test_state_jacobian_is_the_product_of_one_minus_z():
    """∂h_{T−1}/∂δ_t = diag(∏_{s=t+1..T−1} (1 − z_s)): gates ignore h, so nothing else enters."""
    with jax.enable_x64(True):
        T, H = 30, 4
        x = jax.random.normal(jax.random.key(0), (1, T, 3), jnp.float64)
        model = models.create("mingru", hidden_size=H, gate_bias=-1.0)
        params = random_params(model, x)

        def last_state(delta):
            return model.apply(params, x, delta, return_probe=True)[1][0, -1]

        jac = np.asarray(jax.jit(jax.jacrev(last_state))(jnp.zeros((1, T, H))))[:, 0]  # [H, T, H]
        p = {k: np.asarray(v) for k, v in params["params"]["layer_0"].items()}
        _, z = numpy_mingru_layer(np.asarray(x), p, "linear")
        for t in range(T):
            expected = np.diag(np.prod(1 - z[0, t + 1 :], axis=0))
            np.testing.assert_allclose(jac[:, t], expected, rtol=1e-11, atol=1e-300)


def test_truncate_keeps_exactly_the_last_k_steps():
    T, H, k = 10, 4, 3
    x = jax.random.normal(jax.random.key(0), (1, T, 3))
    model = models.create("mingru", hidden_size=H)
    params = random_params(model, x)

    def last_state(delta, truncate):
        return model.apply(params, x, delta, return_probe=True, truncate=truncate)[1][0, -1]

    zero = jnp.zeros((1, T, H))
    full = np.asarray(jax.jit(jax.jacrev(last_state), static_argnums=1)(zero, None))[:, 0]
    cut = np.asarray(jax.jit(jax.jacrev(last_state))(zero, k))[:, 0]
    assert np.all(cut[:, : T - k] == 0.0)
    np.testing.assert_array_equal(cut[:, T - k :], full[:, T - k :])
    assert np.all(np.abs(full).max(axis=(0, 2)) > 0)


def test_g_is_continuous_and_positive():
    v = jnp.array([-30.0, -1.0, -1e-7, 0.0, 1e-7, 2.0])
    out = np.asarray(g(v))
    assert np.all(out > 0)
    np.testing.assert_allclose(out, [sigmoid(-30.0), sigmoid(-1.0), 0.5, 0.5, 0.5, 2.5], rtol=1e-6)


def test_bad_activation_lists_the_choices():
    with pytest.raises(ValueError, match=r"activation='tanh' is invalid.*\['linear', 'g'\]"):
        models.create("mingru", hidden_size=4, activation="tanh")
