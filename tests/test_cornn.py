"""`cornn`: a float64 NumPy loop of the IMEX scheme of Rusch & Mishra (2021), and its gradient bound."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models
from seqgrad.models.cornn import gradient_bound, state_jacobian_bound
from tests.zoo_helpers import assert_matches_reference, random_params, state_jacobians


def numpy_cornn(x, p, dt, gamma, epsilon):
    y = z = np.zeros((x.shape[0], p["bias"].shape[0]))
    ys = []
    for t in range(x.shape[1]):
        pre = y @ p["recurrent_kernel"] + z @ p["velocity_kernel"] + x[:, t] @ p["input_kernel"] + p["bias"]
        z = (z + dt * (np.tanh(pre) - gamma * y)) / (1 + dt * epsilon)
        y = y + dt * z
        ys.append(y)
    return np.stack(ys, 1)


@pytest.mark.parametrize("num_layers, dt, gamma, epsilon", [(1, 0.042, 2.7, 4.7), (2, 0.3, 1.0, 0.5)])
def test_equals_numpy_loop(num_layers, dt, gamma, epsilon):
    options = dict(dt=dt, gamma=gamma, epsilon=epsilon)
    assert_matches_reference("cornn", numpy_cornn, num_layers=num_layers, reference_options=options, **options)


@pytest.mark.parametrize("dt, gamma, epsilon, scale", [(0.042, 2.7, 4.7, 1.0), (0.2, 1.0, 0.1, 2.0), (0.5, 5.0, 0.0001, 3.0)])
@pytest.mark.parametrize("site", ["hidden", "velocity"])
def test_measured_jacobians_respect_the_bound(dt, gamma, epsilon, scale, site):
    """‖∂y_{T−1}/∂y_t‖_∞ and ‖∂z_{T−1}/∂z_t‖_∞ ≤ ρ^(T−1−t), ρ from the weights, Δt, γ, ε."""
    with jax.enable_x64(True):
        T, H = 40, 6
        x = jax.random.normal(jax.random.key(1), (1, T, 3), jnp.float64)
        model = models.create("cornn", hidden_size=H, dt=dt, gamma=gamma, epsilon=epsilon)
        params = random_params(model, x, scale=scale)
        J = state_jacobians(model, params, x, site=site)
        measured = np.abs(J).sum(axis=2).max(axis=1)  # ∞-norm (max row sum) per t
        rho = float(gradient_bound(params["params"]["layer_0"], dt, gamma, epsilon))
        bound = rho ** (T - 1 - np.arange(T))
        assert np.all(measured <= bound * (1 + 1e-12)), (measured / bound).max()
        assert measured[-2] / bound[-2] > 1e-3  # one step: the bound is within three decades of the measurement


def test_bad_dt_is_rejected():
    with pytest.raises(ValueError, match="dt=0 is invalid for 'cornn'"):
        models.create("cornn", hidden_size=4, dt=0)


def _step(p, dt, gamma, epsilon):
    """One IMEX step of the full state ``X = (y, z)`` ``[2H]`` for a fixed input ``u = x V + b`` ``[H]`` (jnp)."""

    def step(X, u):
        H = X.shape[0] // 2
        y, z = X[:H], X[H:]
        z = (z + dt * (jnp.tanh(y @ p["recurrent_kernel"] + z @ p["velocity_kernel"] + u) - gamma * y)) / (1 + dt * epsilon)
        return jnp.concatenate([y + dt * z, z])

    return step


@pytest.mark.parametrize("dt, gamma, epsilon, scale", [(0.042, 2.7, 4.7, 1.0), (0.2, 1.0, 0.1, 2.0), (0.9, 3.0, 0.2, 0.3)])
def test_step_jacobians_of_the_full_state_respect_rho(dt, gamma, epsilon, scale):
    """float64: ‖∂X_t/∂X_{t−1}‖_∞ ≤ ρ for every step (jax.jacrev of the IMEX step), and over d steps
    ‖∏ ∂X_s/∂X_{s−1}‖_∞ ≤ ρ^d; the (y, y) block of the product (what the main job measures) too."""
    with jax.enable_x64(True):
        T, H, D = 30, 5, 3
        x = jax.random.normal(jax.random.key(4), (1, T, D), jnp.float64)
        model = models.create("cornn", hidden_size=H, dt=dt, gamma=gamma, epsilon=epsilon)
        params = random_params(model, x, seed=2, scale=scale)
        p = params["params"]["layer_0"]
        rho = float(gradient_bound(p, dt, gamma, epsilon))
        assert rho == float(state_jacobian_bound(model, params, "hidden"))  # the main job's hook: the top layer
        step = _step(p, dt, gamma, epsilon)
        u = x[0] @ p["input_kernel"] + p["bias"]
        X = jnp.zeros(2 * H, jnp.float64)
        steps = []
        for t in range(T):
            steps.append(np.asarray(jax.jacrev(step)(X, u[t])))
            X = step(X, u[t])
        inf = lambda A: np.abs(A).sum(axis=1).max()  # noqa: E731  max absolute row sum
        per_step = np.array([inf(A) for A in steps])
        assert np.all(per_step <= rho * (1 + 1e-12)), (per_step.max(), rho)
        assert per_step.max() / rho > 0.5  # a bound, and not a loose one, for one step
        products = [np.eye(2 * H)]
        for d, A in enumerate(steps[:0:-1], start=1):  # ∂X_{T−1}/∂X_{T−1−d} = A_{T−1} ⋯ A_{T−d}
            products.append(products[-1] @ A)
            assert inf(products[d]) <= rho**d * (1 + 1e-12), (d, inf(products[d]), rho**d)
            assert inf(products[d][:H, :H]) <= inf(products[d]) * (1 + 1e-12)  # a block: at most the product
        # The products' (y, y) blocks are the hidden-site Jacobians the model's perturbation measures.
        J = state_jacobians(model, params, x, site="hidden")[::-1]  # by distance d = 0..T−1
        np.testing.assert_allclose(J, np.stack([P[:H, :H] for P in products]), rtol=1e-10, atol=1e-12)
