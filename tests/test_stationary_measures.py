"""Summaries that read the dynamics, not the start-up or the chosen T.

`decay.classify` on closed-form profiles (one regime for e^(rd) at every T, a lattice
with ‖J(1)‖ = 0, exact zeros, power laws), and the burn-in windows of
`seqgrad.jobs.gradient_flow.measurements` against an independent Jacobian of the whole sequence.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import gradient_flow
from seqgrad import models
from seqgrad.gradflow import decay
from seqgrad.jobs.gradient_flow import summaries
from seqgrad.jobs.gradient_flow import config as config_lib
from seqgrad.jobs.gradient_flow import entries as entries_lib
from seqgrad.jobs.gradient_flow import inputs
from seqgrad.jobs.gradient_flow import programs
from seqgrad.gradflow import windows

CONFIG = gradient_flow.get_config()


def classify(norms, exact=None):
    return summaries.classify(np.asarray(norms, np.float64), CONFIG, exact=exact)


@pytest.mark.parametrize("rate", [-0.3, -0.0106, -0.002, 0.0, 0.003, 0.02])
def test_an_exponential_gets_one_regime_at_every_T(rate):
    """e^(rd) keeps its label and its rate from T = 128 to 512; the ratio rule of earlier versions
    (‖J(T−1)‖ ≥ 0.1·‖J(1)‖) flips for a rate between −ln 10/126 and −ln 10/510."""
    out = {T: classify(np.exp(rate * np.arange(T))) for T in (128, 512)}
    assert out[128]["regime"] == out[512]["regime"]
    np.testing.assert_allclose([out[T]["rate"] for T in out], rate, atol=1e-12)
    expected = ("vanishing" if rate < -1 / CONFIG.regime.timescale else
                "exploding" if rate > 1 / CONFIG.regime.timescale else "preserved")
    assert out[128]["regime"] == expected


def test_the_ratio_rule_of_earlier_versions_moves_with_T():
    """lru's −0.0106/step: preserved by the ratio rule at T = 128 and vanishing at 512; one label now."""
    r = CONFIG.regime
    labels = {T: decay.regime(np.exp(-0.0106 * np.arange(T)), growth=r.growth, preserved=r.preserved,
                              rebound_decades=r.rebound_decades) for T in (128, 512)}
    assert labels == {128: "preserved", 512: "vanishing"}
    assert {classify(np.exp(-0.0106 * np.arange(T)))["regime"] for T in (128, 512)} == {"vanishing"}


def test_a_lattice_that_skips_d_1_is_read_against_the_window_maximum():
    """‖J(1)‖ = 0 (a skip RNN at s = 3): reference = window max, lattice d = 2m kept → preserved, horizon > T − 1."""
    d = np.arange(512)
    norms = np.where(d % 2 == 0, 1.0, 0.0)
    norms[0] = 1.0
    out = classify(norms)
    assert out["reference"] == "window max" and out["regime"] == "preserved" and out["shape"] == "periodic"
    assert decay.memory_horizon(norms, CONFIG.horizon_threshold) == 510  # the last lattice point of the window
    assert decay.memory_horizon(np.where(d < 100, norms, 0.0), CONFIG.horizon_threshold) == 98
    decaying = np.where(d % 2 == 0, 0.9**d, 0.0)  # the lattice itself decays: vanishing, at ln 0.9 per step
    out = classify(decaying)
    assert out["regime"] == "vanishing" and out["rate"] == pytest.approx(np.log(0.9), rel=1e-9)


def test_exact_zeros_cut_the_profile_and_the_fit_uses_d_below_d0():
    """IndRNN: exactly 0 from d = 26 → "cut off at 26", rate fitted on d < 26; a float32 underflow is not a cut."""
    d = np.arange(128)
    norms = np.where(d < 26, np.exp(-0.0611 * d), 0.0)
    out = classify(norms, exact=norms == 0)
    assert out["regime"] == "cut off" and out["cut_off_distance"] == 26
    assert out["rate"] == pytest.approx(-0.0611, rel=1e-9) and out["fit_rate"] == pytest.approx(-0.0611, rel=1e-9)
    underflow = classify(norms, exact=np.zeros(128, bool))
    assert underflow["cut_off_distance"] is None and underflow["regime"] == "vanishing"
    assert decay.cut_off_distance(np.where(d == 5, 0.0, 1.0)) is None  # a zero inside is no cut-off


def test_a_power_law_is_named_with_its_exponent_at_every_T():
    for T in (128, 512):
        out = classify(np.maximum(np.arange(T), 1.0) ** -1.5)
        assert out["shape"] == "power law" and out["regime"] == "power-law decay"
        assert out["power_law_exponent"] == pytest.approx(1.5, rel=1e-9)


def test_envelope_rate_reads_lattice_peaks_not_troughs():
    d = np.arange(256)
    lattice = np.where(d % 8 == 0, np.exp(-0.01 * d), 1e-9)
    assert decay.envelope_rate(lattice, block=16)["rate"] == pytest.approx(-0.01, rel=1e-9)
    assert decay.fit_decay_rate(lattice)["r2"] < 0.5  # a line through all d sees troughs


def _lstm(hidden=4, inputs=3):
    model = models.create("lstm", hidden_size=hidden)
    x = jax.random.normal(jax.random.key(1), (40, inputs))
    params = model.init(jax.random.key(0), x[None])
    return model, params, x


def test_window_jacobians_equal_the_whole_sequence_jacobian_sliced():
    """After a burn-in of L − W steps, ∂h_(L−1)/∂h_t for the last W steps equals the jacrev of h_(L−1)
    with the perturbation on every step, sliced to the window (float64)."""
    with jax.enable_x64(True):
        model, params, x = _lstm()
        params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
        x = x.astype(jnp.float64)
        L, n = x.shape[0], 4

        def last(delta):
            _, p = model.apply(params, x[None], delta[None], site="hidden", return_probe=True)
            return p[0, -1]

        full = jnp.swapaxes(jax.jacrev(last)(jnp.zeros((L, n))), 0, 1)  # [L, n, n]
        window = windows.window_jacobians(model, params, x, "hidden", 12)
        np.testing.assert_allclose(window, full[-12:], rtol=1e-12, atol=1e-15)
        (prefix,) = windows.jacobians_by_length(model, params, x, "hidden", (12,))  # the zero-state start
        assert not np.allclose(prefix, full[-12:])


def test_shorter_windows_are_the_first_distances_of_the_longest():
    """`expand_windows`: T{T}/q is the first T distances of T{W}/q; keys already present are kept."""
    out = {"T8/spectral_norm": np.arange(2 * 1 * 1 * 8).reshape(2, 1, 1, 8), "T4/gradient_norm": np.ones((2, 1))}
    programs.expand_windows(out, (4, 8))
    np.testing.assert_array_equal(out["T4/spectral_norm"], out["T8/spectral_norm"][:, :, :, :4])
    np.testing.assert_array_equal(out["T4/gradient_norm"], np.ones((2, 1)))


def _config(**overrides):
    config = gradient_flow.get_config("rnn")
    with config.unlocked():
        config.num_seeds, config.num_inputs, config.hidden_size, config.input_size = 1, 1, 8, 3
        config.conditions.T, config.T, config.conditions.input_scale = (16, 48), 16, (1.0,)
        config.default_input_scale, config.lyapunov.T, config.fixed_distances = 1.0, 64, (1, 8)
        for key, value in overrides.items():
            target = config
            *path, last = key.split(".")
            for part in path:
                target = target[part]
            target[last] = value
    return config


def test_burn_in_stacks_share_their_end_and_the_lyapunov_burn_in_follows():
    """With a burn-in every window ends at step B + max(T) − 1: the T = 16 stack is the last 16 steps of the
    T = 48 one (one reverse pass), and the Lyapunov burn-in follows config.burn_in unless set."""
    config = _config(burn_in=20)
    assert config_lib.lyapunov_burn_in(config) == 20 and config_lib.lyapunov_burn_in(_config(**{"lyapunov.burn_in": 3})) == 3
    (entry,) = entries_lib.build_entries(config)
    dtype, keys, scales = jnp.float32, jax.random.split(jax.random.key(0), 1), jnp.asarray([1.0])
    params = inputs.params_fn(entry, config, dtype)(keys)
    xs = inputs.data_fn(entry, config, dtype, 20 + 48)(keys)["xs"]
    stacks = jax.jit(lambda p, x, s: programs._stacks(entry, config, config_lib.windows(config), p, x, s))(params, xs, scales)
    assert list(stacks) == [48] and stacks[48].shape == (1, 1, 1, 48, 8, 8)
    x = inputs.draw_inputs(entry, config, keys[0], 20 + 48, dtype)[0][0]
    seed_params = jax.tree.map(lambda a: a[0], params)
    expected = windows.window_jacobians(entry.model, seed_params, x, entry.site, 16)
    np.testing.assert_allclose(stacks[48][0, 0, 0, -16:], expected, rtol=1e-5, atol=1e-7)
    zero_state = _config(burn_in=0)
    assert config_lib.computed_lengths(zero_state, (16, 48)) == (16, 48)
    assert config_lib.lyapunov_burn_in(zero_state) == 0


@pytest.mark.parametrize("arch", ["lstm", "lru", "transformer"])
def test_window_jacobians_of_scans_and_of_other_models(arch):
    """A step-wise scan runs the burn-in forward only (no scan of the whole length in the program); models
    without one (an associative scan, attention) get the zero-padded perturbation: same numbers either way."""
    model = models.create(arch, hidden_size=4)
    x = jax.random.normal(jax.random.key(1), (40, 3))
    params = model.init(jax.random.key(0), x[None])

    def last(delta):
        _, p = model.apply(params, x[None], delta[None], site="hidden", return_probe=True)
        return p[0, -1]

    full = jnp.swapaxes(jax.jacrev(last)(jnp.zeros((40, 4))), 0, 1)
    window = windows.window_jacobians(model, params, x, "hidden", 12)
    np.testing.assert_allclose(window, full[-12:], rtol=2e-5, atol=1e-7)
    program = str(jax.make_jaxpr(lambda p: windows.window_jacobians(model, p, x, "hidden", 12))(params))
    if arch == "lstm":
        assert "length=40" not in program and "length=28" in program and "length=12" in program
