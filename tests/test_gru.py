"""`gru` against an independent float64 NumPy GRU (the seed's equations), and its zero-weight closed form."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def numpy_gru(x, U, W_zr, W_h, b):
    """Cho et al. (2014) as the seed writes it; row-vector convention, blocks (z, r, h̃); x: [B, T, D]."""
    B, T, _ = x.shape
    H = W_h.shape[0]
    U_z, U_r, U_h = U[:, :H], U[:, H : 2 * H], U[:, 2 * H :]
    W_z, W_r = W_zr[:, :H], W_zr[:, H:]
    b_z, b_r, b_h = b[:H], b[H : 2 * H], b[2 * H :]
    h = np.zeros((B, H))
    out = []
    for t in range(T):
        z = sigmoid(h @ W_z + x[:, t] @ U_z + b_z)
        r = sigmoid(h @ W_r + x[:, t] @ U_r + b_r)
        candidate = np.tanh((r * h) @ W_h + x[:, t] @ U_h + b_h)
        h = (1 - z) * h + z * candidate
        out.append(h)
    return np.stack(out, axis=1)


def layer(params):
    return params["params"]["layer_0"]


@pytest.mark.parametrize("update_bias", [0.0, -1.0])
def test_gru_matches_numpy_reference(update_bias):
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(0), (3, 9, 4), jnp.float64)
        model = models.create("gru", hidden_size=5, update_bias=update_bias)
        params = model.init(jax.random.key(1), x)
        layer(params)["bias"] = layer(params)["bias"] + 0.05 * jnp.arange(15, dtype=jnp.float64)
        p = {k: np.asarray(v) for k, v in layer(params).items()}
        expected = numpy_gru(np.asarray(x), p["input_kernel"], p["recurrent_kernel"], p["candidate_kernel"], p["bias"])
        np.testing.assert_allclose(model.apply(params, x), expected, rtol=1e-12, atol=1e-12)


def test_update_bias_initialises_only_the_update_block():
    model = models.create("gru", hidden_size=2, update_bias=-2.0)
    b = np.asarray(layer(model.init(jax.random.key(0), jnp.zeros((1, 2, 2))))["bias"])
    np.testing.assert_array_equal(b, [-2, -2, 0, 0, 0, 0])


@pytest.mark.parametrize("update_bias", [0.0, -1.0, 2.0])
def test_zero_weight_jacobian_is_one_minus_sigma_bz_to_the_distance(update_bias):
    """Closed form: with zero weights z = σ(b_z) and h̃ ignores h, so ∂h_{T-1}/∂h_t = (1-σ(b_z))^(T-1-t)·I."""
    T, H = 12, 4
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(0), (1, T, 3), jnp.float64)
        model = models.create("gru", hidden_size=H, update_bias=update_bias)
        params = model.init(jax.random.key(1), x)
        for name in ("input_kernel", "recurrent_kernel", "candidate_kernel"):
            layer(params)[name] = jnp.zeros_like(layer(params)[name])

        def last_state(delta):
            return model.apply(params, x, delta)[0, -1]

        jac = np.asarray(jax.jacrev(last_state)(jnp.zeros((1, T, H), jnp.float64))[:, 0])  # [H, T, H]
    for t in range(T):
        expected = (1 - sigmoid(update_bias)) ** (T - 1 - t) * np.eye(H)
        np.testing.assert_allclose(jac[:, t], expected, rtol=1e-12, atol=0)


def test_bad_update_bias_is_rejected():
    with pytest.raises(ValueError, match="update_bias=None is invalid"):
        models.create("gru", hidden_size=4, update_bias=None)
