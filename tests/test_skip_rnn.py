"""`skip_rnn`: h_t = tanh(h_{t-1} W + x_t U + b) + h_{t-k}; reference and the lag closed form."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models


def numpy_skip(x, U, W, b, k):
    """Reference from the equation with h_s = 0 for s < 0; x: [B, T, D] -> h: [B, T, H]."""
    B, T, _ = x.shape
    hs = [np.zeros((B, W.shape[0]))] * k  # h_{-k} .. h_{-1}
    for t in range(T):
        hs.append(np.tanh(hs[-1] @ W + x[:, t] @ U + b) + hs[-k])
    return np.stack(hs[k:], axis=1)


@pytest.mark.parametrize("k", [1, 2, 3, 7])
def test_matches_numpy_reference(k):
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(0), (2, 11, 3), jnp.float64)
        model = models.create("skip_rnn", hidden_size=4, skip=k, recurrent_scale=0.5)
        params = model.init(jax.random.key(1), x)
        params["params"]["layer_0"]["bias"] = 0.1 * jnp.arange(4, dtype=jnp.float64)
        p = {n: np.asarray(v) for n, v in params["params"]["layer_0"].items()}
        expected = numpy_skip(np.asarray(x), p["input_kernel"], p["recurrent_kernel"], p["bias"], k)
        np.testing.assert_allclose(model.apply(params, x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k", [1, 3, 4])
def test_jacobian_is_identity_at_multiples_of_k_when_f_ignores_h(k):
    """Closed form: with W = 0, ∂h_{T-1}/∂h_{T-1-mk} = I for every m and 0 at every other lag."""
    T, H = 13, 3
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(0), (1, T, 2), jnp.float64)
        model = models.create("skip_rnn", hidden_size=H, skip=k)
        params = model.init(jax.random.key(1), x)
        W = params["params"]["layer_0"]["recurrent_kernel"]
        params["params"]["layer_0"]["recurrent_kernel"] = jnp.zeros_like(W)

        def last_state(delta):
            return model.apply(params, x, delta)[0, -1]

        jac = np.asarray(jax.jacrev(last_state)(jnp.zeros((1, T, H), jnp.float64))[:, 0])  # [H, T, H]
    for t in range(T):
        lag = T - 1 - t
        expected = np.eye(H) if lag % k == 0 else np.zeros((H, H))
        np.testing.assert_array_equal(jac[:, t], expected, err_msg=f"lag {lag}")


@pytest.mark.parametrize("value", [0, -2, 1.5, True])
def test_bad_skip_is_rejected(value):
    with pytest.raises(ValueError, match=f"skip={value!r} is invalid"):
        models.create("skip_rnn", hidden_size=4, skip=value)


def numpy_skip_inside(x, U, W, b, k):
    """Reference for skip_mode="inside": h_t = tanh(h_{t-1} W + x_t U + b + h_{t-k}), h_s = 0 for s < 0."""
    B, T, _ = x.shape
    hs = [np.zeros((B, W.shape[0]))] * k
    for t in range(T):
        hs.append(np.tanh(hs[-1] @ W + x[:, t] @ U + b + hs[-k]))
    return np.stack(hs[k:], axis=1)


@pytest.mark.parametrize("k", [1, 3])
def test_skip_inside_the_nonlinearity_matches_numpy_reference(k):
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(0), (2, 11, 3), jnp.float64)
        model = models.create("skip_rnn", hidden_size=4, skip=k, skip_mode="inside", recurrent_scale=0.5)
        params = model.init(jax.random.key(1), x)
        params["params"]["layer_0"]["bias"] = 0.1 * jnp.arange(4, dtype=jnp.float64)
        p = {n: np.asarray(v) for n, v in params["params"]["layer_0"].items()}
        expected = numpy_skip_inside(np.asarray(x), p["input_kernel"], p["recurrent_kernel"], p["bias"], k)
        h = model.apply(params, x)
        np.testing.assert_allclose(h, expected, rtol=1e-12, atol=1e-12)
        assert float(jnp.max(jnp.abs(h))) < 1.0  # bounded, unlike the default "outside" form
        outside = models.create("skip_rnn", hidden_size=4, skip=k, recurrent_scale=0.5).apply(params, x)
        assert float(jnp.max(jnp.abs(outside - h))) > 1e-2  # the default is unchanged and differs


def test_bad_skip_mode_names_the_choices():
    with pytest.raises(ValueError, match=r"skip_mode='middle'.*\['outside', 'inside'\]"):
        models.create("skip_rnn", hidden_size=4, skip_mode="middle")
