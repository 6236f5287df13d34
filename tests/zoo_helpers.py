"""Helpers shared by the per-architecture reference tests: random parameters and NumPy activations."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from seqgrad import models


def random_params(model, x, seed=0, scale=0.5):
    """Parameters of ``model``'s structure drawn i.i.d. N(0, scale²) in NumPy: any weights will do for a reference."""
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(model.init, jax.random.key(0), x)
    return jax.tree.map(lambda s: jnp.asarray(scale * rng.standard_normal(s.shape), s.dtype), shapes)


def layer_params(params, index=0):
    """Layer ``index``'s parameters as float64 NumPy arrays."""
    return {k: np.asarray(v, np.float64) for k, v in params["params"][f"layer_{index}"].items()}


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def softplus(v):
    return np.logaddexp(0.0, v)


def state_jacobians(model, params, x, site="hidden"):
    """``[T, H, H]``, ``J[t] = ∂probe_{T−1}/∂δ_t`` for one sequence ``x: [1, T, D]`` (NumPy)."""
    T, H = x.shape[1], model.hidden_size

    def last(delta):
        return model.apply(params, x, delta, site=site, return_probe=True)[1][0, -1]

    return np.swapaxes(np.asarray(jax.jit(jax.jacrev(last))(jnp.zeros((1, T, H), x.dtype)))[:, 0], 0, 1)


def run_layers(reference, x, params, num_layers, **kwargs):
    """Applies ``reference(x, layer_params, **kwargs) -> h`` once per layer of a stack."""
    h = np.asarray(x, np.float64)
    for index in range(num_layers):
        h = reference(h, layer_params(params, index), **kwargs)
    return h


def assert_matches_reference(name, reference, *, num_layers=1, hidden_size=5, T=10, rtol=1e-12, atol=1e-12,
                             reference_options=None, **options):
    """float64: ``models.create(name, ...)`` on random weights equals ``reference(x, layer_params, ...)`` per layer."""
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(0), (2, T, 3), jnp.float64)
        model = models.create(name, hidden_size=hidden_size, num_layers=num_layers, **options)
        params = random_params(model, x)
        expected = run_layers(reference, x, params, num_layers, **(reference_options or {}))
        np.testing.assert_allclose(jax.jit(model.apply)(params, x), expected, rtol=rtol, atol=atol)


def assert_diagonal_product_jacobian(name, factors, *, T=16, hidden_size=4, rtol=1e-11, **options):
    """float64: ``∂h_{T−1}/∂h_t = diag(∏_{s=t+1..T−1} f_s)`` for every t, ``f = factors(x [1, T, D], layer_params)``: ``[T, H]``."""
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(1), (1, T, 3), jnp.float64)
        model = models.create(name, hidden_size=hidden_size, **options)
        params = random_params(model, x, scale=1.0)
        J = state_jacobians(model, params, x)
        f = factors(np.asarray(x), layer_params(params))
    for t in range(T):
        np.testing.assert_allclose(J[t], np.diag(np.prod(f[t + 1 :], axis=0)), rtol=rtol, atol=1e-300)
