"""`residual_rnn`: h_t = h_{t-1} + α·tanh(h_{t-1} W + x_t U + b), its one-step Jacobian in closed form."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models


def numpy_residual(x, U, W, b, alpha):
    """Reference from the equation, row-vector convention; x: [B, T, D] -> h: [B, T, H]."""
    B, T, _ = x.shape
    h = np.zeros((B, W.shape[0]))
    out = []
    for t in range(T):
        h = h + alpha * np.tanh(h @ W + x[:, t] @ U + b)
        out.append(h)
    return np.stack(out, axis=1)


def make(alpha, T=8, H=5, D=3):
    x = jax.random.normal(jax.random.key(0), (1, T, D), jnp.float64)
    model = models.create("residual_rnn", hidden_size=H, residual_scale=alpha)
    params = model.init(jax.random.key(1), x)
    params["params"]["layer_0"]["bias"] = 0.1 * jnp.arange(H, dtype=jnp.float64)
    p = {k: np.asarray(v) for k, v in params["params"]["layer_0"].items()}
    return x, model, params, p


@pytest.mark.parametrize("alpha", [1.0, 0.1])
def test_matches_numpy_reference(alpha):
    with jax.enable_x64(True):
        x, model, params, p = make(alpha)
        expected = numpy_residual(np.asarray(x), p["input_kernel"], p["recurrent_kernel"], p["bias"], alpha)
        np.testing.assert_allclose(model.apply(params, x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("alpha", [1.0, 0.3])
def test_one_step_jacobian_is_identity_plus_residual_term(alpha):
    """∂h_t[i]/∂h_{t-1}[j] = δ_ij + α (1 - tanh²(z_t[i])) W[j, i], i.e. J = I + α·diag(1-tanh²(z_t))·Wᵀ."""
    with jax.enable_x64(True):
        x, model, params, p = make(alpha)
        T, H = x.shape[1], p["bias"].shape[0]
        h = np.asarray(model.apply(params, x))[0]

        def last_state(delta):
            return model.apply(params, x, delta)[0, -1]

        jac = np.asarray(jax.jacrev(last_state)(jnp.zeros((1, T, H), jnp.float64))[:, 0, -2])  # ∂h_{T-1}/∂h_{T-2}
    W = p["recurrent_kernel"]
    z = h[-2] @ W + np.asarray(x)[0, -1] @ p["input_kernel"] + p["bias"]
    expected = np.eye(H) + alpha * np.diag(1 - np.tanh(z) ** 2) @ W.T
    np.testing.assert_allclose(jac, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("key, value", [("residual_scale", 0.0), ("residual_scale", "big"), ("recurrent_scale", -1.0)])
def test_bad_scale_is_rejected(key, value):
    with pytest.raises(ValueError, match=f"{key}={value!r} is invalid"):
        models.create("residual_rnn", hidden_size=4, **{key: value})
