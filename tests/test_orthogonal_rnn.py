"""`orthogonal_rnn` (expRNN): W = expm(A - Aᵀ) stays orthogonal through training; reference; unit singular values."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.linalg

from seqgrad import models
from seqgrad.models.orthogonal_rnn import recurrence_matrix

PHI = {
    "modrelu": lambda z, b: np.sign(z) * np.maximum(np.abs(z) + b, 0.0),
    "tanh": lambda z, b: np.tanh(z + b),
    "linear": lambda z, b: z + b,
}


def numpy_exprnn(x, U, A, b, phi):
    """Reference: W from SciPy's expm of the skew part, then h_t = φ(h_{t-1} W + x_t U)."""
    W = scipy.linalg.expm(A - A.T)
    h = np.zeros((x.shape[0], W.shape[0]))
    out = []
    for t in range(x.shape[1]):
        h = phi(h @ W + x[:, t] @ U, b)
        out.append(h)
    return np.stack(out, axis=1)


@pytest.mark.parametrize("activation", ["modrelu", "tanh", "linear"])
def test_matches_numpy_reference(activation):
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(0), (2, 8, 3), jnp.float64)
        model = models.create("orthogonal_rnn", hidden_size=6, activation=activation)
        params = model.init(jax.random.key(1), x)
        # A generic A (not only the rotation-block initialisation) and a visible bias.
        params["params"]["layer_0"]["recurrent_generator"] = 0.3 * jax.random.normal(jax.random.key(2), (6, 6), jnp.float64)
        params["params"]["layer_0"]["bias"] = 0.05 * jnp.arange(-3, 3, dtype=jnp.float64)
        p = {n: np.asarray(v) for n, v in params["params"]["layer_0"].items()}
        expected = numpy_exprnn(np.asarray(x), p["input_kernel"], p["recurrent_generator"], p["bias"], PHI[activation])
        np.testing.assert_allclose(model.apply(params, x), expected, rtol=1e-10, atol=1e-12)


def test_recurrence_stays_orthogonal_after_an_optax_step():
    """The constraint lives in the parametrisation: a large Adam step on A keeps WᵀW = I to float32 precision."""
    H = 8
    x = jax.random.normal(jax.random.key(0), (2, 5, 3))
    model = models.create("orthogonal_rnn", hidden_size=H)
    params = model.init(jax.random.key(1), x)
    target = jax.random.normal(jax.random.key(2), (2, H))

    def loss(params):
        return jnp.mean((model.apply(params, x)[:, -1] - target) ** 2)

    optimizer = optax.adam(0.1)

    @jax.jit
    def train_step(params, state):
        updates, state = optimizer.update(jax.grad(loss)(params), state, params)
        return optax.apply_updates(params, updates), state

    state = optimizer.init(params)
    A_before = params["params"]["layer_0"]["recurrent_generator"]
    for _ in range(3):
        params, state = train_step(params, state)
    A = params["params"]["layer_0"]["recurrent_generator"]
    assert float(jnp.abs(A - A_before).max()) > 0.1  # the step really moved A
    W = np.asarray(recurrence_matrix(A), np.float64)
    np.testing.assert_allclose(W.T @ W, np.eye(H), atol=2e-6)
    np.testing.assert_allclose(np.linalg.det(W), 1.0, atol=1e-5)


def test_linear_jacobians_have_unit_singular_values():
    """With a linear φ, ∂h_{T-1}/∂h_t = (Wᵀ)^(T-1-t): every singular value is 1 at every distance."""
    T, H = 10, 6
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(0), (1, T, 3), jnp.float64)
        model = models.create("orthogonal_rnn", hidden_size=H, activation="linear")
        params = model.init(jax.random.key(1), x)

        def last_state(delta):
            return model.apply(params, x, delta)[0, -1]

        jac = np.asarray(jax.jacrev(last_state)(jnp.zeros((1, T, H), jnp.float64))[:, 0])  # [H, T, H]
        W = np.asarray(recurrence_matrix(params["params"]["layer_0"]["recurrent_generator"]))
    for t in range(T):
        np.testing.assert_allclose(np.linalg.svd(jac[:, t], compute_uv=False), np.ones(H), atol=1e-12)
        np.testing.assert_allclose(jac[:, t], np.linalg.matrix_power(W.T, T - 1 - t), atol=1e-12)


def test_initial_recurrence_is_a_block_rotation():
    model = models.create("orthogonal_rnn", hidden_size=4)
    A = model.init(jax.random.key(0), jnp.zeros((1, 2, 3)))["params"]["layer_0"]["recurrent_generator"]
    W = np.asarray(recurrence_matrix(A), np.float64)
    theta = np.asarray(A)[[0, 2], [1, 3]]
    for block, angle in zip((slice(0, 2), slice(2, 4)), theta):
        c, s = np.cos(angle), np.sin(angle)
        np.testing.assert_allclose(W[block, block], [[c, s], [-s, c]], atol=1e-6)
    np.testing.assert_allclose(W[:2, 2:], 0, atol=1e-7)


def test_bad_activation_lists_the_choices():
    with pytest.raises(ValueError, match="activation='relu' is invalid.*'modrelu', 'tanh', 'linear'"):
        models.create("orthogonal_rnn", hidden_size=4, activation="relu")
