"""`lru`: the associative scan against a sequential NumPy loop, the ring init, and diag(λ^d).

References are written from Orvieto et al. (2023), Sec. 3, in float64:
``x_t = λ ⊙ x_{t−1} + γ ⊙ (u_t B)``, ``h_t = Re(x_t C) + D ⊙ u_t``, ``u_t = x_t W_in``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models


def random_params(model, x, seed=0, scale=0.5):
    """Parameters of ``model``'s structure drawn i.i.d. N(0, scale²) in NumPy: any weights will do for a reference."""
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(model.init, jax.random.key(0), x)
    return jax.tree.map(lambda s: jnp.asarray(scale * rng.standard_normal(s.shape), s.dtype), shapes)


def numpy_lru_layer(x, p):
    """Sequential loop over t; returns (h [B, T, H], state [B, T, N] complex)."""
    lam = np.exp(-np.exp(p["nu_log"]) + 1j * np.exp(p["theta_log"]))
    gamma = np.exp(p["gamma_log"])
    Bc = p["B_re"] + 1j * p["B_im"]
    Cc = p["C_re"] + 1j * p["C_im"]
    batch, T, _ = x.shape
    s = np.zeros((batch, lam.shape[0]), complex)
    hs, states = [], []
    for t in range(T):
        u = x[:, t] @ p["input_kernel"]
        s = lam * s + gamma * (u @ Bc)
        hs.append((s @ Cc).real + p["D"] * u)
        states.append(s)
    return np.stack(hs, 1), np.stack(states, 1)


@pytest.mark.parametrize("num_layers", [1, 2])
def test_associative_scan_equals_sequential_loop(num_layers):
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(0), (2, 11, 3), jnp.float64)
        model = models.create("lru", hidden_size=6, num_layers=num_layers, r_min=0.5, r_max=0.95)
        params = random_params(model, x)
        h, probe = jax.jit(model.apply, static_argnames="return_probe")(params, x, return_probe=True)
        expected = np.asarray(x)
        for index in range(num_layers):
            p = {k: np.asarray(v) for k, v in params["params"][f"layer_{index}"].items()}
            expected, state = numpy_lru_layer(expected, p)
        np.testing.assert_allclose(h, expected, rtol=1e-11, atol=1e-12)
        np.testing.assert_allclose(probe, np.concatenate([state.real, state.imag], -1), rtol=1e-11, atol=1e-12)


def test_ring_init_and_normalisation():
    r_min, r_max, max_phase = 0.4, 0.8, 3.0
    model = models.create("lru", hidden_size=1000, r_min=r_min, r_max=r_max, max_phase=max_phase)
    p = jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, 2, 3)))["params"]["layer_0"]
    nu_log, theta_log, gamma_log = (np.asarray(p[k], np.float64) for k in ("nu_log", "theta_log", "gamma_log"))
    modulus = np.exp(-np.exp(nu_log))
    phase = np.exp(theta_log)
    # Float32 rounding of ν_log moves |λ| by ~1e-7 at most.
    assert modulus.min() >= r_min - 1e-6 and modulus.max() <= r_max + 1e-6
    assert phase.min() >= 0.0 and phase.max() <= max_phase * (1 + 1e-6)
    # |λ|² is uniform on [r_min², r_max²]: with 500 draws the extremes are within 2 % of the ends
    # (P(miss) = (0.98)^500 < 1e-4) and the mean is the uniform mean within 4 standard errors.
    sq = modulus**2
    assert sq.min() < r_min**2 + 0.02 * (r_max**2 - r_min**2)
    assert sq.max() > r_max**2 - 0.02 * (r_max**2 - r_min**2)
    se = (r_max**2 - r_min**2) / np.sqrt(12 * sq.size)
    assert abs(sq.mean() - (r_min**2 + r_max**2) / 2) < 4 * se
    np.testing.assert_allclose(np.exp(gamma_log), np.sqrt(1 - modulus**2), rtol=1e-5)


def test_state_jacobian_is_the_real_block_form_of_lambda_power():
    """∂[Re x, Im x]_{T−1}/∂δ_t = [[Re λ^d, −Im λ^d], [Im λ^d, Re λ^d]] (diagonal blocks), d = T−1−t."""
    with jax.enable_x64(True):
        T, H = 40, 8
        N = H // 2
        x = jax.random.normal(jax.random.key(0), (1, T, 3), jnp.float64)
        model = models.create("lru", hidden_size=H)
        params = random_params(model, x)
        # Chosen eigenvalues: moduli spread over the ring, phases over the circle.
        layer = params["params"]["layer_0"]
        layer["nu_log"] = jnp.log(-jnp.log(jnp.array([0.5, 0.8, 0.95, 0.999])))
        layer["theta_log"] = jnp.log(jnp.array([0.1, 1.0, 2.5, 6.0]))

        def last_state(delta):
            return model.apply(params, x, delta, return_probe=True)[1][0, -1]

        jac = np.asarray(jax.jit(jax.jacrev(last_state))(jnp.zeros((1, T, H))))[:, 0]  # [H, T, H]
        p = params["params"]["layer_0"]
        lam = np.exp(-np.exp(np.asarray(p["nu_log"])) + 1j * np.exp(np.asarray(p["theta_log"])))
        for t in range(T):
            power = lam ** (T - 1 - t)
            c, s = np.diag(power.real), np.diag(power.imag)
            expected = np.block([[c, -s], [s, c]])
            np.testing.assert_allclose(jac[:, t], expected, rtol=1e-10, atol=1e-14)


def test_truncate_keeps_exactly_the_last_k_steps():
    T, H, k = 12, 6, 4
    x = jax.random.normal(jax.random.key(0), (1, T, 3))
    model = models.create("lru", hidden_size=H)
    params = random_params(model, x)

    def last_state(delta, truncate):
        return model.apply(params, x, delta, return_probe=True, truncate=truncate)[1][0, -1]

    zero = jnp.zeros((1, T, H))
    full = np.asarray(jax.jit(jax.jacrev(last_state), static_argnums=1)(zero, None))[:, 0]
    cut = np.asarray(jax.jit(jax.jacrev(last_state))(zero, k))[:, 0]
    assert np.all(cut[:, : T - k] == 0.0)
    np.testing.assert_array_equal(cut[:, T - k :], full[:, T - k :])
    assert np.all(np.abs(full[:, : T - k]).max(axis=(0, 2)) > 0)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"hidden_size": 5}, "hidden_size=5"),
        ({"hidden_size": 4, "r_min": 0.9, "r_max": 0.5}, "r_min=0.9, r_max=0.5"),
        ({"hidden_size": 4, "r_max": 1.5}, "r_max=1.5"),
        ({"hidden_size": 4, "max_phase": 0.0}, "max_phase=0.0"),
    ],
)
def test_bad_values_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        models.create("lru", **options)
