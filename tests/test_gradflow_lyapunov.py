"""Lyapunov exponents by the QR method against closed forms.

* linear rnn ``h ↦ h W``: the exponents are ``log|eig(W)|`` (sorted, descending);
* LRU ``s_t = λ ⊙ s_{t-1} + b_t``: ``log|λ_i|``, twice per complex unit;
* zero-weight LSTM: the ``(h, c)`` step Jacobian is ``[[0, ·], [0, σ(b_f) I]]``,
  so the top H exponents equal ``ln σ(b_f)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models
from seqgrad.gradflow import lyapunov_exponents, spectra, state_jacobians
from seqgrad.models import recurrence

D, H = 3, 6


def linear_rnn(W, dtype):
    model = models.create("rnn", hidden_size=W.shape[0], activation="linear")
    params = jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, 2, D), dtype))
    params["params"]["layer_0"]["recurrent_kernel"] = jnp.asarray(W, dtype)
    return model, params


def inputs(length, dtype, seed=1):
    return jax.random.normal(jax.random.key(seed), (length, D), dtype)


def test_symmetric_linear_rnn_matches_log_eigenvalue_moduli_tightly():
    """Real eigenvalues: after the burn-in the frame is aligned, every step adds exactly log|eig|."""
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.normal(size=(H, H)))
    eig = np.array([1.05, -0.9, 0.7, 0.5, -0.3, 0.1])
    W = Q @ np.diag(eig) @ Q.T
    with jax.enable_x64(True):
        model, params = linear_rnn(W, jnp.float64)
        got = np.asarray(lyapunov_exponents(model, params, inputs(2000, jnp.float64), num_exponents=H, burn_in=500))
    np.testing.assert_allclose(got, np.sort(np.log(np.abs(eig)))[::-1], atol=1e-10)


def test_general_linear_rnn_at_ten_thousand_steps_in_float32():
    """Complex pairs rotate inside their plane, so the split within a pair converges as O(1/T)."""
    W = np.asarray(jax.random.normal(jax.random.key(3), (H, H))) * 0.9 / np.sqrt(H)
    expected = np.sort(np.log(np.abs(np.linalg.eigvals(W.astype(np.float64)))))[::-1]
    model, params = linear_rnn(W, jnp.float32)
    x = inputs(10_000, jnp.float32)
    got = np.asarray(lyapunov_exponents(model, params, x, num_exponents=H, burn_in=100))
    np.testing.assert_allclose(got, expected, atol=2e-3)
    # log|det W| (exact volume growth per step), up to float32 accumulation over 10 000 steps.
    np.testing.assert_allclose(got.sum(), expected.sum(), rtol=1e-4)
    # The raw product at this length reads exactly 0 in float32: only the QR method measures it.
    norms = np.asarray(spectra.summarize(state_jacobians(model, params, x))["spectral_norm"])
    assert norms[-1] == 0.0 and spectra.zero_status(norms, np.float32)[-1] == spectra.UNDERFLOW


def test_lru_exponents_are_the_log_moduli_of_its_eigenvalues():
    model = models.create("lru", hidden_size=H)
    x = inputs(50, jnp.float32)
    params = jax.jit(model.init)(jax.random.key(2), x[None])
    got = np.asarray(lyapunov_exponents(model, params, x, num_exponents=H))
    log_moduli = -np.exp(np.asarray(params["params"]["layer_0"]["nu_log"], np.float64))
    # float32: |λ| ≈ 0.99 carries ~6e-8 absolute error into log|λ|.
    np.testing.assert_allclose(got, np.sort(np.repeat(log_moduli, 2))[::-1], rtol=0, atol=3e-7)


@pytest.mark.parametrize("forget_bias", [0.0, 2.0])
def test_zero_weight_lstm_top_exponents_are_log_sigmoid_of_the_forget_bias(forget_bias):
    model = models.create("lstm", hidden_size=H, forget_bias=forget_bias)
    x = inputs(300, jnp.float32)
    params = jax.jit(model.init)(jax.random.key(2), x[None])
    layer = params["params"]["layer_0"]
    layer["input_kernel"] = jnp.zeros_like(layer["input_kernel"])
    layer["recurrent_kernel"] = jnp.zeros_like(layer["recurrent_kernel"])
    # c stays 0 (candidate tanh(0) = 0), so after the first step maps the frame into the range of
    # the Jacobian every step scales it by exactly σ(b_f): a short burn-in removes that projection.
    got = np.asarray(lyapunov_exponents(model, params, x, num_exponents=H, burn_in=10))
    np.testing.assert_allclose(got, -np.log1p(np.exp(-forget_bias)), atol=1e-5)


def test_models_without_a_recurrence_are_not_applicable():
    model = models.create("dilated_conv", hidden_size=H, kernel_size=2, num_blocks=2)
    x = inputs(20, jnp.float32)
    params = jax.jit(model.init)(jax.random.key(0), x[None])
    assert lyapunov_exponents(model, params, x, num_exponents=2) is None


def test_recording_leaves_the_forward_pass_unchanged_and_needs_a_recurrence():
    model = models.create("rnn", hidden_size=H)
    x = inputs(30, jnp.float32)[None]
    params = jax.jit(model.init)(jax.random.key(0), x)
    delta = jnp.zeros((1, 30, H))
    plain = model.apply(params, x, delta, return_probe=True)
    with recurrence.record_lyapunov(2) as recorder:
        recorded = model.apply(params, x, delta, return_probe=True)
    np.testing.assert_array_equal(recorded[0], plain[0])
    assert recorder.applicable and recorder.exponents.shape == (2,) and recorder.dimension == H
    with recurrence.record_lyapunov(2) as empty:
        pass
    with pytest.raises(ValueError, match="not applicable"):
        empty.exponents


@pytest.mark.parametrize(
    "kwargs, message",
    [({"num_exponents": 0}, "num_exponents=0"), ({"num_exponents": H + 1}, "dimension 6"),
     ({"num_exponents": 2, "burn_in": 30}, "burn_in=30")],
)
def test_bad_arguments_name_the_value(kwargs, message):
    model = models.create("rnn", hidden_size=H)
    x = inputs(30, jnp.float32)
    params = jax.jit(model.init)(jax.random.key(0), x[None])
    with pytest.raises(ValueError, match=message):
        lyapunov_exponents(model, params, x, **kwargs)
