"""`multiscale_rnn` (Clockwork RNN): reference, modules holding their state off-tick, slow-to-fast connectivity."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models

G, K, SIZE = 3, 2, 2  # modules, period base, units per module: periods 1, 2, 4
H = G * SIZE
PERIODS = np.repeat(K ** np.arange(G), SIZE)  # [H]
MODULE = np.repeat(np.arange(G), SIZE)  # [H]


def numpy_clockwork(x, U, W, b):
    """Koutník et al. (2014): a unit of period P updates on t mod P == 0 and holds otherwise."""
    B, T, _ = x.shape
    mask = MODULE[:, None] >= MODULE[None, :]  # source j feeds target i iff module(j) >= module(i)
    h = np.zeros((B, H))
    out = []
    for t in range(T):
        new = np.tanh(h @ (W * mask) + x[:, t] @ U + b)
        h = np.where(t % PERIODS == 0, new, h)
        out.append(h)
    return np.stack(out, axis=1)


def make(T=9):
    x = jax.random.normal(jax.random.key(0), (2, T, 3), jnp.float64)
    model = models.create("multiscale_rnn", hidden_size=H, num_modules=G, period_base=K)
    params = model.init(jax.random.key(1), x)
    params["params"]["layer_0"]["bias"] = 0.1 * jnp.arange(H, dtype=jnp.float64)
    return x, model, params


def test_matches_numpy_reference_with_a_dense_recurrent_kernel():
    with jax.enable_x64(True):
        x, model, params = make()
        # Fill the masked entries too: the model must ignore them.
        dense = jax.random.normal(jax.random.key(2), (H, H), jnp.float64) / np.sqrt(H)
        params["params"]["layer_0"]["recurrent_kernel"] = dense
        p = {n: np.asarray(v) for n, v in params["params"]["layer_0"].items()}
        expected = numpy_clockwork(np.asarray(x), p["input_kernel"], p["recurrent_kernel"], p["bias"])
        np.testing.assert_allclose(model.apply(params, x), expected, rtol=1e-12, atol=1e-12)


def test_recurrent_kernel_starts_block_triangular():
    with jax.enable_x64(True):
        _, _, params = make()
    W = np.asarray(params["params"]["layer_0"]["recurrent_kernel"])
    fast_from_slow_or_same = MODULE[:, None] >= MODULE[None, :]
    assert np.all(W[~fast_from_slow_or_same] == 0)
    assert np.all(W[fast_from_slow_or_same] != 0)


def test_modules_hold_their_state_off_tick():
    with jax.enable_x64(True):
        x, model, params = make(T=12)
        h = np.asarray(model.apply(params, x))
    for t in range(1, h.shape[1]):
        tick = t % PERIODS == 0
        np.testing.assert_array_equal(h[:, t, ~tick], h[:, t - 1, ~tick])
        assert np.all(h[:, t, tick] != h[:, t - 1, tick]), f"module on its tick did not update at t={t}"


def test_one_step_jacobian_is_identity_off_tick_and_slow_to_fast_on_tick():
    """Row i of ∂h_t/∂h_{t-1} is e_i off-tick; on-tick it is zero on faster source modules."""
    with jax.enable_x64(True):
        x, model, params = make(T=8)
        x = x[:1]

        def states(delta):
            return model.apply(params, x, delta)[0]

        full = np.asarray(jax.jacrev(states)(jnp.zeros((1, 8, H), jnp.float64))[:, :, 0])  # [T, H, T, H]
        for t in (5, 6, 7, 4):  # ticks: {1}, {1, 2}, {1}, {1, 2, 4}
            jac = full[t, :, t - 1]  # ∂h_t/∂h_{t-1}: [H, H]
            tick = t % PERIODS == 0
            np.testing.assert_array_equal(jac[~tick], np.eye(H)[~tick])
            faster_source = MODULE[None, :] < MODULE[:, None]  # [target i, source j]
            assert np.all(jac[tick][faster_source[tick]] == 0)
            assert np.all(jac[tick][~faster_source[tick]] != 0)


def test_indivisible_hidden_size_names_both():
    with pytest.raises(ValueError, match="hidden_size=10 is invalid for num_modules=4"):
        models.create("multiscale_rnn", hidden_size=10, num_modules=4)
    with pytest.raises(ValueError, match="period_base=0 is invalid"):
        models.create("multiscale_rnn", hidden_size=8, period_base=0)
