"""`rnn` against an independent float64 NumPy implementation of h_t = φ(W h_{t-1} + U x_t + b)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models


def numpy_elman(x, U, W, b, phi):
    """Reference written from the equation, row-vector convention; x: [B, T, D]."""
    B, T, _ = x.shape
    h = np.zeros((B, W.shape[0]))
    out = []
    for t in range(T):
        h = phi(h @ W + x[:, t] @ U + b)
        out.append(h)
    return np.stack(out, axis=1)


PHI = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0), "linear": lambda z: z}


@pytest.mark.parametrize("activation", ["tanh", "relu", "linear"])
def test_rnn_matches_numpy_reference(activation):
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(0), (3, 9, 4), jnp.float64)
        model = models.create("rnn", hidden_size=5, activation=activation, recurrent_scale=0.9)
        params = model.init(jax.random.key(1), x)
        # A non-zero bias so that b is exercised.
        params = jax.tree.map(lambda p: p, params)
        params["params"]["layer_0"]["bias"] = 0.1 * jnp.arange(5, dtype=jnp.float64)
        p = {k: np.asarray(v) for k, v in params["params"]["layer_0"].items()}
        expected = numpy_elman(np.asarray(x), p["input_kernel"], p["recurrent_kernel"], p["bias"], PHI[activation])
        np.testing.assert_allclose(model.apply(params, x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "init, check",
    [
        ("orthogonal", lambda W: np.testing.assert_allclose(W.T @ W, 0.5**2 * np.eye(6), atol=1e-6)),
        ("identity", lambda W: np.testing.assert_array_equal(W, 0.5 * np.eye(6))),
    ],
)
def test_recurrent_inits(init, check):
    model = models.create("rnn", hidden_size=6, recurrent_init=init, recurrent_scale=0.5)
    params = model.init(jax.random.key(0), jnp.zeros((1, 2, 3)))
    check(np.asarray(params["params"]["layer_0"]["recurrent_kernel"]))


def test_normal_init_has_the_stated_spectral_radius():
    model = models.create("rnn", hidden_size=400, recurrent_init="normal", recurrent_scale=1.5)
    params = model.init(jax.random.key(0), jnp.zeros((1, 2, 3)))
    W = np.asarray(params["params"]["layer_0"]["recurrent_kernel"], np.float64)
    # Circular law: eigenvalues fill the disc of radius 1.5; at H = 400 the edge is within a few %.
    assert abs(np.max(np.abs(np.linalg.eigvals(W))) - 1.5) < 0.1
    assert abs(W.std() * np.sqrt(400) - 1.5) < 0.02
