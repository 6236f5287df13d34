"""`s6`: the associative scan against a float64 NumPy loop of Mamba's S6 (Gu & Dao 2023), Δ → 0, the square Jacobian."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models
from tests.zoo_helpers import assert_matches_reference, layer_params, random_params, softplus, state_jacobians


def numpy_s6(x, p, return_a=False):
    """Zero-order hold per (channel, state): Ā = exp(ΔA), B̄ = (Ā − 1)/A · B; s = Ā s + B̄ u; h = Σ_n C s + D u."""
    A = -np.exp(p["A_log"])  # [H, N]
    H, N = A.shape
    s, hs, a_s = np.zeros((x.shape[0], H, N)), [], []
    for t in range(x.shape[1]):
        u = x[:, t] @ p["input_kernel"]  # [B, H]
        dt = softplus(u @ p["dt_kernel"] + p["dt_bias"])[:, :, None]
        bc = u @ p["bc_kernel"]
        B_t, C_t = bc[:, None, :N], bc[:, None, N:]
        a = np.exp(dt * A)
        s = a * s + (a - 1) / A * B_t * u[:, :, None]
        hs.append((s * C_t).sum(-1) + p["D"] * u)
        a_s.append(a)
    return (np.stack(hs, 1), np.stack(a_s, 1)) if return_a else np.stack(hs, 1)


@pytest.mark.parametrize("num_layers, state_size", [(1, 3), (2, 2)])
def test_associative_scan_equals_sequential_loop(num_layers, state_size):
    assert_matches_reference("s6", numpy_s6, num_layers=num_layers, hidden_size=4, state_size=state_size)


def test_hidden_site_jacobian_is_the_mean_over_states_of_the_products():
    """δ added to every state of a channel, probe the channel's mean: ∂p_{T−1}/∂δ_t = diag(mean_n ∏ Ā)."""
    with jax.enable_x64(True):
        T, H = 12, 3
        x = jax.random.normal(jax.random.key(1), (1, T, 2), jnp.float64)
        model = models.create("s6", hidden_size=H, state_size=4)
        params = random_params(model, x)
        J = state_jacobians(model, params, x)
        _, a = numpy_s6(np.asarray(x), layer_params(params), return_a=True)  # [1, T, H, N]
        for t in range(T):  # not a product of diagonals: the mean over n of each state's product
            np.testing.assert_allclose(J[t], np.diag(np.prod(a[0, t + 1 :], axis=0).mean(-1)), rtol=1e-11, atol=1e-300)


def test_vanishing_step_is_the_identity_state_map():
    with jax.enable_x64(True):
        T, H = 10, 3
        x = jax.random.normal(jax.random.key(2), (1, T, 2), jnp.float64)
        model = models.create("s6", hidden_size=H)
        params = random_params(model, x)
        layer = dict(params["params"]["layer_0"])
        layer.update(dt_kernel=jnp.zeros((H, H)), dt_bias=jnp.full((H,), -40.0))  # Δ = softplus(−40) ≈ 4e-18
        J = state_jacobians(model, {"params": {"layer_0": layer}}, x)
        np.testing.assert_allclose(J, np.broadcast_to(np.eye(H), J.shape), atol=1e-14)


def test_s4d_real_and_dt_initialisation():
    model = models.create("s6", hidden_size=64, state_size=5)
    p = jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, 2, 3)))["params"]["layer_0"]
    np.testing.assert_allclose(-np.exp(p["A_log"]), -np.broadcast_to(np.arange(1, 6), (64, 5)), rtol=1e-6)
    dt = softplus(np.asarray(p["dt_bias"], np.float64))
    assert dt.min() >= 0.001 * (1 - 1e-5) and dt.max() <= 0.1 * (1 + 1e-5)
