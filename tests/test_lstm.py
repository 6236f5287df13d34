"""`lstm` against an independent float64 NumPy LSTM, and the constant error carousel in closed form."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models
from seqgrad.gradflow import state_jacobians


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def numpy_lstm(x, U, W, b):
    """The seed's equations, row-vector convention, gate blocks (i, f, o, c̃); x: [B, T, D]."""
    B, T, _ = x.shape
    H = W.shape[0]
    h, c = np.zeros((B, H)), np.zeros((B, H))
    hs, cs = [], []
    for t in range(T):
        z = h @ W + x[:, t] @ U + b
        i = sigmoid(z[:, :H])
        f = sigmoid(z[:, H : 2 * H])
        o = sigmoid(z[:, 2 * H : 3 * H])
        candidate = np.tanh(z[:, 3 * H :])
        c = f * c + i * candidate
        h = o * np.tanh(c)
        hs.append(h)
        cs.append(c)
    return np.stack(hs, axis=1), np.stack(cs, axis=1)


def layer(params):
    return params["params"]["layer_0"]


@pytest.mark.parametrize("forget_bias", [1.0, 0.0])
def test_lstm_matches_numpy_reference(forget_bias):
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(0), (3, 9, 4), jnp.float64)
        model = models.create("lstm", hidden_size=5, forget_bias=forget_bias)
        params = model.init(jax.random.key(1), x)
        # A bias with distinct entries in every gate block so that each b is exercised.
        layer(params)["bias"] = layer(params)["bias"] + 0.05 * jnp.arange(20, dtype=jnp.float64)
        p = {k: np.asarray(v) for k, v in layer(params).items()}
        h_ref, c_ref = numpy_lstm(np.asarray(x), p["input_kernel"], p["recurrent_kernel"], p["bias"])
        h, probe = model.apply(params, x, site="cell", return_probe=True)
        np.testing.assert_allclose(h, h_ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(probe, c_ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(model.apply(params, x), h_ref, rtol=1e-12, atol=1e-12)


def test_forget_bias_initialises_only_the_forget_block():
    model = models.create("lstm", hidden_size=3, forget_bias=1.5)
    b = np.asarray(layer(model.init(jax.random.key(0), jnp.zeros((1, 2, 2))))["bias"])
    np.testing.assert_array_equal(b, [0, 0, 0, 1.5, 1.5, 1.5, 0, 0, 0, 0, 0, 0])


@pytest.mark.parametrize("forget_bias", [1.0, 0.0, 3.0])
def test_zero_weight_cell_jacobian_is_sigma_bf_to_the_distance(forget_bias):
    """Closed form: with zero weights f_t = σ(b_f), so ∂c_{T-1}/∂c_t = σ(b_f)^(T-1-t)·I."""
    T, H = 12, 4
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(0), (1, T, 3), jnp.float64)
        model = models.create("lstm", hidden_size=H, forget_bias=forget_bias)
        params = model.init(jax.random.key(1), x)
        layer(params)["input_kernel"] = jnp.zeros_like(layer(params)["input_kernel"])
        layer(params)["recurrent_kernel"] = jnp.zeros_like(layer(params)["recurrent_kernel"])

        def last_cell(delta):
            _, c = model.apply(params, x, delta, site="cell", return_probe=True)
            return c[0, -1]

        jac = np.asarray(jax.jacrev(last_cell)(jnp.zeros((1, T, H), jnp.float64))[:, 0])  # [H, T, H]
    for t in range(T):
        expected = sigmoid(forget_bias) ** (T - 1 - t) * np.eye(H)
        np.testing.assert_allclose(jac[:, t], expected, rtol=1e-12, atol=0)


def test_bad_forget_bias_is_rejected():
    with pytest.raises(ValueError, match="forget_bias='one' is invalid"):
        models.create("lstm", hidden_size=4, forget_bias="one")


@pytest.mark.parametrize("forget_bias", [0.0, 1.0])
def test_zero_weight_full_state_jacobian_has_the_closed_form(forget_bias):
    """site="state": probe [h, c], J(d) = ∂[h, c]_{T-1}/∂[h, c]_{T-1-d} is [2H, 2H].

    With all weights zero, c stays 0 (c̃ = tanh(0) = 0) and the gates are constants
    f = σ(b_f), o = σ(0) = ½: ∂c/∂c_{-1} = f I, ∂h/∂c_{-1} = o f I (tanh'(0) = 1),
    nothing depends on h_{-1}; so J(0) = I and J(d) = [[0, o f^d I], [0, f^d I]].
    """
    T, H = 6, 3
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(0), (T, 2), jnp.float64)
        model = models.create("lstm", hidden_size=H, forget_bias=forget_bias)
        params = model.init(jax.random.key(1), x[None])
        layer0 = params["params"]["layer_0"]
        for key in ("input_kernel", "recurrent_kernel"):
            layer0[key] = jnp.zeros_like(layer0[key])
        J = np.asarray(state_jacobians(model, params, x, site="state"))  # [T, 2H, 2H]
    assert J.shape == (T, 2 * H, 2 * H)
    f, eye, zero = 1.0 / (1.0 + np.exp(-forget_bias)), np.eye(H), np.zeros((H, H))
    for t in range(T):
        d = T - 1 - t
        want = np.eye(2 * H) if d == 0 else np.block([[zero, 0.5 * f**d * eye], [zero, f**d * eye]])
        np.testing.assert_allclose(J[t], want, rtol=1e-12, atol=1e-15)
