"""`state_jacobians` and `input_jacobians` against closed forms and independent computations.

Convention: ``J[t][i, j] = ∂h_{T-1, i}/∂h_{t, j}`` (column form). The rnn is written
with row vectors, ``h_t = φ(h_{t-1} W + x_t U + b)``, so its one-step Jacobian is
``diag(φ'(z_t)) Wᵀ`` and a linear rnn gives ``J[t] = (Wᵀ)^{T-1-t}``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models
from seqgrad.gradflow import input_jacobians, spectra, state_jacobians
from tests.conftest import SMALL_OPTIONS

T, D, H = 9, 3, 4


def build(name, **extra):
    return models.create(name, hidden_size=H, **{**SMALL_OPTIONS.get(name, {}), **extra})


def setup(name, dtype=jnp.float32, seed=0, length=T, **extra):
    model = build(name, **extra)
    x = jax.random.normal(jax.random.key(seed), (length, D), dtype)
    params = jax.jit(model.init)(jax.random.key(seed + 1), x[None])
    return model, params, x


def test_linear_rnn_is_a_matrix_power():
    with jax.enable_x64(True):
        model, params, x = setup("rnn", jnp.float64, activation="linear", recurrent_init="normal", recurrent_scale=1.1)
        W = np.asarray(params["params"]["layer_0"]["recurrent_kernel"])
        J = np.asarray(state_jacobians(model, params, x))
    assert J.shape == (T, H, H)
    for t in range(T):
        np.testing.assert_allclose(J[t], np.linalg.matrix_power(W.T, T - 1 - t), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype, tol", [(jnp.float64, 1e-12), (jnp.float32, 2e-5)])
def test_orthogonal_linear_rnn_keeps_every_singular_value_at_one(dtype, tol):
    with jax.enable_x64(dtype == jnp.float64):
        model, params, x = setup("rnn", dtype, length=40, activation="linear", recurrent_init="orthogonal")
        sv = np.asarray(spectra.singular_values(state_jacobians(model, params, x)))
    np.testing.assert_allclose(sv, 1.0, atol=tol)


@pytest.mark.parametrize("forget_bias", [0.0, 1.0, 3.0])
def test_zero_weight_lstm_cell_is_a_power_of_the_forget_gate(forget_bias):
    """Zero weights: c_t = σ(b_f) c_{t-1} + σ(0)·tanh(0), so ∂c_{T-1}/∂c_t = σ(b_f)^{T-1-t} I."""
    with jax.enable_x64(True):
        model, params, x = setup("lstm", jnp.float64, forget_bias=forget_bias)
        layer = params["params"]["layer_0"]
        layer["input_kernel"] = jnp.zeros_like(layer["input_kernel"])
        layer["recurrent_kernel"] = jnp.zeros_like(layer["recurrent_kernel"])
        J = np.asarray(state_jacobians(model, params, x, site="cell"))
    f = 1.0 / (1.0 + np.exp(-forget_bias))
    for t in range(T):
        np.testing.assert_allclose(J[t], f ** (T - 1 - t) * np.eye(H), rtol=1e-12, atol=1e-15)


def test_tanh_rnn_equals_the_product_of_step_jacobians():
    """Independent reference: ∏ diag(1 - h_s²) Wᵀ from the forward states, in float64."""
    with jax.enable_x64(True):
        model, params, x = setup("rnn", jnp.float64, recurrent_scale=1.2)
        W = np.asarray(params["params"]["layer_0"]["recurrent_kernel"])
        h = np.asarray(jax.jit(model.apply)(params, x[None]))[0]
        J = np.asarray(state_jacobians(model, params, x))
    product = np.eye(H)
    for t in range(T - 1, -1, -1):
        np.testing.assert_allclose(J[t], product, rtol=1e-11, atol=1e-13)
        product = product @ np.diag(1.0 - h[t] ** 2) @ W.T


def _finite_difference_state_jacobians(model, params, x, site, eps=1e-6):
    """Central differences of probe_{T-1} in every δ_{t, j}, all T·H directions vmapped: [T, H, H]."""
    length = x.shape[0]

    def probe(delta):
        return model.apply(params, x[None], delta[None], site=site, return_probe=True)[1][0, -1]

    basis = jnp.eye(length * H, dtype=x.dtype).reshape(length * H, length, H)
    diff = jax.jit(jax.vmap(lambda e: (probe(eps * e) - probe(-eps * e)) / (2 * eps)))(basis)  # [T*H, H]
    return np.asarray(diff).reshape(length, H, H).transpose(0, 2, 1)


@pytest.mark.parametrize(
    "name, site",
    [
        ("rnn", "hidden"),
        ("lstm", "cell"),
        ("gru", "hidden"),
        ("dilated_conv", "hidden"),
        pytest.param("transformer", "hidden", marks=pytest.mark.slow),
    ],
)
def test_state_jacobians_match_float64_finite_differences(name, site):
    with jax.enable_x64(True):
        model, params, x = setup(name, jnp.float64)
        J = np.asarray(state_jacobians(model, params, x, site=site))
        fd = _finite_difference_state_jacobians(model, params, x, site)
    # Central differences: truncation error O(eps²) ~ 1e-12, rounding ~ 1e-16/eps = 1e-10.
    np.testing.assert_allclose(J, fd, rtol=1e-7, atol=1e-8)
    assert np.abs(J).max() > 1e-3


@pytest.mark.parametrize("name", ["lstm", "dilated_conv", pytest.param("transformer", marks=pytest.mark.slow)])
def test_input_jacobians_match_float64_finite_differences(name):
    eps = 1e-6
    with jax.enable_x64(True):
        model, params, x = setup(name, jnp.float64)
        J = np.asarray(input_jacobians(model, params, x))

        def last(x):
            return model.apply(params, x[None])[0, -1]

        basis = jnp.eye(T * D, dtype=jnp.float64).reshape(T * D, T, D)
        fd = jax.jit(jax.vmap(lambda e: (last(x + eps * e) - last(x - eps * e)) / (2 * eps)))(basis)
        fd = np.asarray(fd).reshape(T, D, H).transpose(0, 2, 1)
    assert J.shape == (T, H, D)
    np.testing.assert_allclose(J, fd, rtol=1e-7, atol=1e-8)


def test_dilated_convolution_is_exactly_zero_beyond_its_receptive_field():
    model = build("dilated_conv", kernel_size=2, num_blocks=2)
    R = model.receptive_field
    assert R == 1 + 2 * (2 - 1) * (2**2 - 1)  # 7
    length = R + 6
    x = jax.random.normal(jax.random.key(0), (length, D))
    params = jax.jit(model.init)(jax.random.key(1), x[None])
    norms = np.asarray(spectra.summarize(state_jacobians(model, params, x))["frobenius_norm"])  # by distance
    inputs = np.abs(np.asarray(input_jacobians(model, params, x))).sum(axis=(1, 2))[::-1]
    for n in (norms, inputs):
        assert np.all(n[R:] == 0.0), n
        assert np.all(n[:R] > 0.0), n


def test_new_params_do_not_recompile():
    from seqgrad.gradflow import jacobians

    model, params, x = setup("rnn")
    state_jacobians(model, params, x)
    size = jacobians._state_jacobians._cache_size()
    _, params2, x2 = setup("rnn", seed=5)
    state_jacobians(model, params2, x2)
    assert jacobians._state_jacobians._cache_size() == size


def test_a_batch_is_rejected():
    model, params, x = setup("rnn")
    with pytest.raises(ValueError, match=r"one sequence \[T, D\]"):
        state_jacobians(model, params, x[None])
