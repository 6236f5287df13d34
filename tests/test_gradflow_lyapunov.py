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
from seqgrad.models import recurrence, tangent_frame

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


def test_recording_leaves_the_forward_pass_unchanged_and_returns_stats_in_a_collection():
    model = models.create("rnn", hidden_size=H)
    x = inputs(30, jnp.float32)[None]
    params = jax.jit(model.init)(jax.random.key(0), x)
    delta = jnp.zeros((1, 30, H))
    plain = model.apply(params, x, delta, return_probe=True)
    recorded, state = model.apply(
        params, x, delta, return_probe=True, lyapunov=tangent_frame.LyapunovSpec(2), mutable=["lyapunov"]
    )
    np.testing.assert_array_equal(recorded[0], plain[0])
    stats = state["lyapunov"]["stats"]
    assert stats.exponents.shape == (2,) and stats.dimension == H and int(stats.zero_directions) == 0
    # Without a request nothing is recorded.
    _, state = model.apply(params, x, delta, return_probe=True, mutable=["lyapunov"])
    assert "lyapunov" not in state


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


# --------------------------------------------------------------------------- explicit channel: eager, jit, vmap


def _symmetric(eig, seed=0):
    Q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(len(eig), len(eig))))
    return Q @ np.diag(eig) @ Q.T


EIGS = np.array([[1.05, -0.9, 0.7, 0.5, -0.3, 0.1], [0.95, 0.8, -0.6, 0.4, 0.2, -0.05]])


def _expected(eig):
    return np.sort(np.log(np.abs(eig)))[::-1]


def test_exponents_are_the_same_eagerly_inside_jit_twice_and_under_vmap():
    """The statistics are an output of the call, so every way of calling gives log|eig W|."""
    with jax.enable_x64(True):
        x = inputs(600, jnp.float64)
        models_params = [linear_rnn(_symmetric(eig), jnp.float64) for eig in EIGS]
        model = models_params[0][0]
        params = [p for _, p in models_params]
        spec = tangent_frame.LyapunovSpec(H, burn_in=300)

        def exponents(p):
            _, state = model.apply(p, x[None], return_probe=True, lyapunov=spec, mutable=["lyapunov"])
            return state["lyapunov"]["stats"].exponents

        jitted = jax.jit(exponents)
        stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *params)
        wrapped = jax.jit(lambda p: lyapunov_exponents(model, p, x, num_exponents=H, burn_in=300))
        for i, eig in enumerate(EIGS):
            want = _expected(eig)
            np.testing.assert_allclose(exponents(params[i]), want, atol=1e-10)  # eager, no jit
            np.testing.assert_allclose(jitted(params[i]), want, atol=1e-10)  # jit, then a cached call
            np.testing.assert_allclose(wrapped(params[i]), want, atol=1e-10)  # the public function inside jit
        for batched in (jax.vmap(exponents), jax.jit(jax.vmap(exponents)), jax.vmap(jitted),
                        jax.vmap(lambda p: lyapunov_exponents(model, p, x, num_exponents=H, burn_in=300))):
            np.testing.assert_allclose(batched(stacked), np.stack([_expected(e) for e in EIGS]), atol=1e-10)


def test_scan_returns_its_statistics_without_a_model():
    """Lower-level use: `recurrence.scan(..., lyapunov=spec)` returns them as ``out["lyapunov"]``."""
    with jax.enable_x64(True):
        W = jnp.asarray(_symmetric(EIGS[0]))
        u = jnp.zeros((400, 1, H))

        def run(W):
            _, out = recurrence.scan(lambda c, u_t: {"h": c["h"] @ W + u_t}, {"h": jnp.ones((1, H))}, u,
                                     lyapunov=tangent_frame.LyapunovSpec(3, burn_in=200))
            return out["lyapunov"].exponents

        np.testing.assert_allclose(jax.jit(run)(W), _expected(EIGS[0])[:3], atol=1e-10)
        np.testing.assert_allclose(jax.vmap(run)(jnp.stack([W, W])), np.stack([_expected(EIGS[0])[:3]] * 2), atol=1e-10)


def test_linear_recurrence_models_give_exponents_under_vmap():
    model = models.create("mingru", hidden_size=H)
    x = inputs(40, jnp.float32)
    keys = jax.random.split(jax.random.key(0), 2)
    params = jax.vmap(lambda k: model.init(k, x[None]))(keys)
    got = jax.vmap(lambda p: lyapunov_exponents(model, p, x, num_exponents=2))(params)
    z = jax.vmap(lambda p: jax.nn.sigmoid(x @ p["params"]["layer_0"]["gate_kernel"] + p["params"]["layer_0"]["gate_bias"]))(params)
    want = np.sort(np.mean(np.log1p(-np.asarray(z, np.float64)), axis=1), axis=1)[:, ::-1][:, :2]
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_adding_a_tracked_perturbation_by_hand_points_to_the_pattern():
    tracked = tangent_frame.Tracked(jnp.zeros(3), tangent_frame.Request(tangent_frame.LyapunovSpec(1)))
    with pytest.raises(TypeError, match="perturbation="):
        jnp.ones(3) + tracked


# --------------------------------------------------------------------------- singular step Jacobians


def _diagonal_scan(d, k, burn_in):
    """``h_t = h_{t-1} ⊙ d_t``: step Jacobian ``diag(d_t)``, known exponents; returns (exponents, zero count)."""
    _, out = recurrence.scan(lambda c, d_t: {"h": c["h"] * d_t}, {"h": jnp.ones((1, d.shape[-1]))}, d[:, None],
                             lyapunov=tangent_frame.LyapunovSpec(k, burn_in=burn_in))
    return np.asarray(out["lyapunov"].exponents), int(out["lyapunov"].zero_directions)


def test_directions_killed_during_the_burn_in_restart_silently():
    """d_2 = (1, 0, 0) aligns the frame with e_0 exactly; afterwards diag(1, ½, ¼): exponents (0, ln ½, ln ¼)."""
    with jax.enable_x64(True):
        d = np.tile([1.0, 0.5, 0.25], (200, 1))
        d[2] = [1.0, 0.0, 0.0]
        got, zeros = _diagonal_scan(jnp.asarray(d), 3, burn_in=10)
    np.testing.assert_allclose(got, np.log([1.0, 0.5, 0.25]), atol=1e-12)
    assert zeros == 0


@pytest.mark.parametrize("k", [1, 2])
def test_a_frame_direction_sent_to_zero_after_the_burn_in_restarts_instead_of_reading_minus_inf(k):
    """The frame is exactly e_0 when d_50 kills unit 0: the plain QR method reads -inf for good.

    Restarted, the direction measures the dynamics after the singular step, diag(1, ½, ¼):
    top exponents (0, ln ½)[:k], and the event is counted once.
    """
    with jax.enable_x64(True):
        d = np.tile([1.0, 0.5, 0.25], (400, 1))
        d[2], d[50] = [1.0, 0.0, 0.0], [0.0, 0.5, 0.25]
        got, zeros = _diagonal_scan(jnp.asarray(d), k, burn_in=10)
    assert np.all(np.isfinite(got)) and zeros == 1
    # The restarted direction lived 349 of the 390 recorded steps; others need no restart.
    np.testing.assert_allclose(got, np.log([1.0, 0.5])[:k], atol=1e-3)


def test_persistent_rank_deficiency_reports_minus_inf_and_counts_every_step():
    """Unit 2 is dead at every step: the product's third exponent is exactly -inf, counted per recorded step."""
    with jax.enable_x64(True):
        d = jnp.asarray(np.tile([1.0, 0.5, 0.0], (200, 1)))
        got, zeros = _diagonal_scan(d, 3, burn_in=60)  # 0.5^60: the frame is aligned to rounding
    np.testing.assert_allclose(got[:2], np.log([1.0, 0.5]), atol=1e-12)
    assert got[2] == -np.inf and zeros == 140


def test_relu_identity_rnn_keeps_a_finite_top_exponent_when_units_die():
    """IRNN (relu, W = I), T = 2000, burn_in = 100, 5 seeds under vmap: the plain QR method read -inf for
    most seeds; active units of W = I have exponent 0, so the top exponent is 0 up to the O(1/T)
    shrinkage a frame vector suffers when a unit it touches dies."""
    model = models.create("rnn", hidden_size=32, activation="relu", recurrent_init="identity")

    def top(key):
        k_x, k_p = jax.random.split(key)
        x = jax.random.normal(k_x, (2000, 8))
        params = model.init(k_p, x[None])
        return lyapunov_exponents(model, params, x, num_exponents=4, burn_in=100)

    got = np.asarray(jax.vmap(top)(jax.random.split(jax.random.key(0), 5)))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got[:, 0], 0.0, atol=1e-3)
