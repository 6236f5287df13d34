"""Measures that fit the profiles: horizons of periodic profiles, regimes, shapes, spreads, lengths, chrono."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models
from seqgrad.gradflow import decay, spectra, state_jacobians
from seqgrad.gradflow.budget import default_distances
from seqgrad.jobs.gradient_flow import conditions
from seqgrad.jobs.gradient_flow import summaries
from seqgrad.jobs.gradient_flow import entries as entries_lib
from seqgrad.jobs.gradient_flow import inputs
from seqgrad.jobs.gradient_flow import programs
from seqgrad.gradflow import windows

D = np.arange(128, dtype=np.float64)
REGIME = {"growth": 10.0, "preserved": 0.1, "rebound_decades": 1.0}
SHAPE = {"min_r2": 0.9, "flat_rate": 0.005, "plateau_decades": 1.0}


def test_a_periodic_profile_keeps_its_horizon_at_the_last_peak():
    """Skip-RNN-like: 0.3^(d mod 8), ≈ 1 at every multiple of 8, so the horizon is not the first trough."""
    norms = 0.3 ** (D % 8)  # J(1) = 0.3; threshold 1e-3·0.3: 0.3^6 = 7.3e-4 above, 0.3^7 = 2.2e-4 below
    assert decay.first_drop_horizon(norms, 1e-3) == 7
    assert decay.memory_horizon(norms, 1e-3) == 126  # 127 = 15·8 + 7 is a trough, 126 the last point above
    assert decay.regime(norms, **REGIME) == decay.NON_MONOTONE
    assert decay.profile_shape(norms, **SHAPE)["shape"] == decay.NOT_EXPONENTIAL


@pytest.mark.parametrize(
    "norms, regime",
    [
        (0.5**D, decay.VANISHING),
        (np.ones(128), decay.PRESERVED),
        (0.99**D, decay.PRESERVED),  # 0.99^126 = 0.28 ≥ 0.1
        (1.05**D, decay.EXPLODING),
        (np.where(D < 40, 1.0, 0.0), decay.VANISHING),  # exact zeros at the end are no rebound
        (np.where(D % 8 == 0, 1.0, 1e-5), decay.NON_MONOTONE),
    ],
)
def test_regime_labels(norms, regime):
    assert decay.regime(norms, **REGIME) == regime


def test_profile_shapes():
    assert decay.profile_shape(0.7**D, **SHAPE)["shape"] == decay.EXPONENTIAL
    assert decay.profile_shape(np.ones(128), **SHAPE)["shape"] == decay.FLAT
    plateau = np.where(D < 20, 0.5**D, 0.5**20)
    shape = decay.profile_shape(plateau, **SHAPE)
    assert shape["shape"] == decay.DROP_THEN_PLATEAU and shape["rate_second_half"] == pytest.approx(0, abs=1e-12)


def test_lattice_rate_reads_only_multiples_of_the_period():
    norms = np.where(D % 8 == 0, 0.9 ** (D / 8), 1e-9)
    np.testing.assert_allclose(decay.lattice_decay_rate(norms, 8)["rate"], np.log(0.9) / 8, rtol=1e-12)


def test_spread_over_initialisations_and_over_inputs_apart():
    seeds = np.array([0.0, 10.0, 20.0, 30.0])[:, None]
    inputs = np.array([-1.0, 0.0, 1.0])[None, :]
    s = summaries.stats(seeds + inputs)  # [S=4, I=3]
    assert s.spread_over_inits == pytest.approx(15.0)  # IQR of 0, 10, 20, 30
    assert s.spread_over_inputs == pytest.approx(1.0)  # IQR of -1, 0, 1 within every seed
    assert s.median == pytest.approx(15.0)


def test_one_reverse_pass_gives_every_lengths_jacobians():
    """Causality: ∂h_{T-1}/∂h_t on x equals state_jacobians on the prefix x[:T] (float64, 1e-12)."""
    with jax.enable_x64(True):
        model = models.create("lstm", hidden_size=3)
        x = jax.random.normal(jax.random.key(1), (12, 2), jnp.float64)
        params = model.init(jax.random.key(0), x[None])
        by_length = windows.jacobians_by_length(model, params, x, "cell", (5, 12))
        for T, J in zip((5, 12), by_length):
            np.testing.assert_allclose(J, state_jacobians(model, params, x[:T], site="cell"), atol=1e-12)


def test_module_blocks_are_the_diagonal_blocks():
    J = jnp.arange(2 * 4 * 4, dtype=jnp.float32).reshape(2, 4, 4)
    blocks = np.asarray(windows.module_blocks(J, 2))
    np.testing.assert_array_equal(blocks[:, 0], np.asarray(J)[:, :2, :2])
    np.testing.assert_array_equal(blocks[:, 1], np.asarray(J)[:, 2:, 2:])


def test_chrono_biases():
    """Tallec & Ollivier 2018: b_f = log U(1, T_max − 1), b_i = −b_f; the other gates unchanged."""
    model = models.create("lstm", hidden_size=64, forget_bias=1.0)
    x = jnp.ones((1, 4, 2))
    params = inputs.initialise(model, "chrono", jax.random.key(0), x, 100)
    plain = model.init(jax.random.key(0), x)
    b, b0 = np.asarray(params["params"]["layer_0"]["bias"]), np.asarray(plain["params"]["layer_0"]["bias"])
    b_f, b_i = b[64:128], b[:64]
    assert np.all(b_f >= 0) and np.all(b_f <= np.log(99) + 1e-6) and np.ptp(b_f) > 1.0
    np.testing.assert_array_equal(b_i, -b_f)
    np.testing.assert_array_equal(b[128:], b0[128:])
    with pytest.raises(ValueError, match="only 'lstm'"):
        conditions.check_init("g", "gru", "chrono")
    with pytest.raises(ValueError, match="valid choices"):
        conditions.check_init("g", "lstm", "warm")


def test_the_record_is_written_by_field_name_with_null_for_nan():
    from seqgrad.report import record

    stats = record.Stats(1.0, float("nan"), np.float32(2.0), float("inf"))
    assert record.to_json({"s": stats, "c": record.Condition(0.1, 128), "a": np.array([1.0, np.nan])}) == {
        "s": {"median": 1.0, "q25": None, "q75": 2.0, "spread_over_inits": None, "spread_over_inputs": None},
        "c": {"input_scale": 0.1, "T": 128},
        "a": [1.0, None],
    }
    with pytest.raises(AttributeError):
        stats.mean  # noqa: B018  (a renamed or unknown field fails where it is read)


def test_inf_norm_is_the_max_absolute_row_sum_by_distance():
    J = np.random.default_rng(0).standard_normal((5, 3, 4))
    got = np.asarray(spectra.inf_norm(spectra.by_distance(jnp.asarray(J))))
    np.testing.assert_allclose(got, [np.linalg.norm(J[::-1][d], np.inf) for d in range(5)], rtol=1e-6)


def test_optional_measures_are_fields_of_the_registry_record():
    from seqgrad.models import cornn, rg_lru

    assert models.info("cornn").state_jacobian_bound is cornn.state_jacobian_bound
    assert models.info("rg_lru").state_variance_ratio is rg_lru.state_variance_ratio
    assert models.info("rnn").state_jacobian_bound is None and models.info("rnn").state_variance_ratio is None


def test_the_main_job_measures_the_cornn_bound_per_seed():
    """Tiny config: ln ρ per (scale, seed) is that of the seed's drawn params; ‖J(d)‖_∞ ≤ ρ^d holds (excess ≤ 0)."""
    from experiments import gradient_flow
    from seqgrad.gradflow import seeds
    from seqgrad.models.cornn import gradient_bound

    config = gradient_flow.get_config("cornn")
    with config.unlocked():
        config.update_from_flattened_dict({
            "T": 16, "num_seeds": 2, "num_inputs": 2, "hidden_size": 4, "input_size": 2, "conditions.T": (16,),
            "conditions.input_scale": (1.0,), "fixed_distances": (1,), "lyapunov.T": 30, "lyapunov.burn_in": 2,
            "seed_experiment.lengths": (4, 16)})
    (entry,) = entries_lib.build_entries(config)
    keys = seeds.keys(config.seed, config.num_seeds)
    raw = jax.tree.map(np.asarray, programs.measure_fn(entry, config, jnp.float32)(keys, np.ones(1, np.float32)))
    assert raw["log_bound"].shape == (1, 2) and raw["T16/inf_norm"].shape == (1, 2, 2, 16)
    for s in range(2):
        params = inputs.draw(entry, config, keys[s], 16, jnp.float32)[0]
        rho = gradient_bound(params["params"]["layer_0"], 0.042, 2.7, 4.7)
        np.testing.assert_allclose(raw["log_bound"][0, s], np.log(rho), rtol=1e-6)
    assert summaries.bound_excess(raw["T16/inf_norm"][0], raw["log_bound"][0]) < 0
    assert raw["lyapunov_zero_directions"].shape == (1, 2)


@pytest.mark.parametrize("name", ["rnn", "lstm_state", "lru", "transformer"])
def test_sketch_profiles_equal_the_exact_stacks_frobenius_norms(name):
    """``method="sketch"`` with k >= n probes: ‖J(d)‖_F equal to the exact stack's (float64, 1e-9); with
    ``num_singular`` = r the exact top-r singular values at the sampled distances, NaN elsewhere."""
    import dataclasses

    from experiments import gradient_flow
    from seqgrad.gradflow import seeds
    config = gradient_flow.get_config(name)
    config.hidden_size, config.input_size, config.num_seeds, config.num_inputs = 4, 2, 2, 2
    config.T, config.conditions.T, config.conditions.input_scale = 6, (6, 9), (0.5, 1.0)
    config.fixed_distances, config.seed_experiment.lengths = (1, 3), (3, 6)
    config.lyapunov.T, config.lyapunov.burn_in, config.lyapunov.num_exponents = 12, 2, 2
    if name == "transformer":
        config.entries[name].options.num_heads = 1
    config.sketch.num_probes = 8  # >= n: the identity basis
    with jax.enable_x64(True):
        (entry,) = entries_lib.build_entries(config)
        keys, scales = seeds.keys(0, 2), np.asarray([0.5, 1.0])
        exact = programs.measure_fn(entry, config, jnp.float64)(keys, scales)
        sketch = programs.measure_fn(dataclasses.replace(entry, method="sketch"), config, jnp.float64)(keys, scales)
        for T in (6, 9):
            np.testing.assert_allclose(sketch[f"T{T}/spectral_norm"], exact[f"T{T}/frobenius_norm"], rtol=1e-9,
                                       atol=1e-12)
        config.sketch.num_singular = 2
        sv = programs.measure_fn(dataclasses.replace(entry, method="sketch"), config, jnp.float64)(keys, scales)
        d = default_distances(9)
        got = np.asarray(sv["T9/singular_values"])  # [C, S, I, T, r]
        np.testing.assert_allclose(got[..., d, :], np.asarray(exact["T9/singular_values"])[..., d, :2], rtol=1e-9,
                                   atol=1e-12)
        assert np.isnan(np.delete(got, d, axis=-2)).all()
