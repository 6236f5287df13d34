"""The main job's ahead-of-time programs: shared between entries that lower alike, quick where it is safe."""

from __future__ import annotations

import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import gradient_flow
from seqgrad.gradflow import seeds
from seqgrad.jobs.gradient_flow import programs
from seqgrad.jobs.gradient_flow import compilation
from seqgrad.jobs.gradient_flow import config as config_lib
from seqgrad.jobs.gradient_flow import entries as entries_lib
from seqgrad.jobs.gradient_flow import inputs
from seqgrad.jobs.gradient_flow import measurements
from seqgrad.gradflow import windows


def _config(names: str, **overrides):
    config = gradient_flow.get_config(names)
    with config.unlocked():
        config.update_from_flattened_dict({
            "T": 8, "num_seeds": 2, "num_inputs": 2, "hidden_size": 4, "input_size": 2, "conditions.T": (8,),
            "conditions.input_scale": (1.0,), "fixed_distances": (1,), "lyapunov.T": 20, "lyapunov.burn_in": 2,
            "lyapunov.num_exponents": 2, "seed_experiment.lengths": (4, 8), **overrides})
    return config


def test_entries_that_differ_only_in_their_initialisation_share_every_program():
    """Forget bias 0 and 5 and chrono (site cell) lower alike: one compilation each of the profile, Lyapunov and
    seed-experiment programs and the step; the LSTM's hidden site is another profile program. Values stay per entry."""
    config = _config("lstm_cell_fb0,lstm_cell_fb5,lstm_chrono,lstm")
    entries = {e.name: e for e in entries_lib.build_entries(config)}
    cache = compilation.ProgramCache()
    keys = seeds.keys(config.seed, config.num_seeds)
    names = ("lstm_cell_fb0", "lstm_cell_fb5", "lstm_chrono", "lstm")
    w = config_lib.windows(config)
    compiled = {n: compilation.compile_measure(entries[n], config, inputs.measurement_inputs(entries[n], config), w, cache)
                for n in names}
    steps = {n: compilation.compile_step(entries[n], config, cache) for n in names}
    # fb5 and chrono reuse fb0's three parts, its spectra (SVD) program, its input draw and its step; the
    # hidden-site LSTM its Lyapunov, seed-experiment, spectra (the same stack shapes), input-draw and step programs
    # (none reads the site), not its profiles. The init programs differ (the biases are constants there).
    assert cache.hits == 6 + 6 + 5
    fb0, fb5, chrono, lstm = (compiled[n].parts for n in names)
    assert fb0["profiles"] is fb5["profiles"] is chrono["profiles"] and lstm["profiles"] is not fb0["profiles"]
    assert fb0["lyapunov"] is lstm["lyapunov"] and steps["lstm_chrono"] is steps["lstm"]
    scales = np.ones(1, np.float32)
    out = {n: jax.tree.map(np.asarray, compiled[n](keys, scales)) for n in names}
    assert not np.allclose(out["lstm_cell_fb0"]["T8/spectral_norm"], out["lstm_cell_fb5"]["T8/spectral_norm"])
    for n in names:  # each entry's own parameters through the shared programs: its own jitted measurement
        expected = programs.measure_fn(entries[n], config, jnp.float32)(keys, scales)
        for key in ("T8/spectral_norm", "lyapunov", "T8/gradient_vs_length"):
            np.testing.assert_allclose(out[n][key], expected[key], rtol=1e-5, atol=1e-7)


def test_programs_that_print_alike_for_different_parameter_trees_are_not_shared():
    """Two dilated stacks (7 and 4 blocks) have no recurrence: their Lyapunov parts ignore the parameters, and jit
    drops unused arguments from the program text, yet each entry must get a program for its own parameter tree."""
    config = _config("dilated_conv,dilated_conv_L4")
    entries = entries_lib.build_entries(config)
    cache, keys = compilation.ProgramCache(), seeds.keys(config.seed, config.num_seeds)
    w = config_lib.windows(config)
    compiled = [compilation.compile_measure(e, config, (np.float32, keys, np.ones(1, np.float32)), w, cache) for e in entries]
    assert compiled[0].parts["lyapunov"] is not compiled[1].parts["lyapunov"]
    for c in compiled:
        assert c(keys, np.ones(1, np.float32))["T8/spectral_norm"].shape == (1, 2, 2, 8)


def test_a_program_asked_for_by_several_threads_compiles_once():
    config = _config("lstm_cell_fb0,lstm_cell_fb1,lstm_cell_fb5")
    entries = entries_lib.build_entries(config)
    cache, out = compilation.ProgramCache(), {}
    threads = [threading.Thread(target=lambda e=e: out.setdefault(e.name, compilation.compile_step(e, config, cache)))
               for e in entries]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 1 and cache.hits == 2 and len({id(v) for v in out.values()}) == 1


def test_quick_options_lower_the_level_of_measurements_never_of_the_timed_step():
    config = _config("lstm,transformer,cornn")
    entries = {e.name: e for e in entries_lib.build_entries(config)}  # sorted by name
    lstm, transformer, cornn = entries["lstm"], entries["transformer"], entries["cornn"]
    level = (lambda n: {compilation.LEVEL: n}) if jax.default_backend() == "cpu" else (lambda n: {})
    assert compilation.options(lstm, config, "lyapunov") == level(0)
    assert compilation.options(lstm, config, "seed_experiment") == level(0)  # one pass: a short run
    assert compilation.options(cornn, config, "seed_experiment") == level(1)  # truncated definition: a long run
    for entry in (lstm, transformer, cornn):
        assert compilation.options(entry, config, "profiles") == level(1) == compilation.options(entry, config, "recheck")
        assert compilation.options(entry, config, "step") == {}
    config.quick_compile = False
    assert all(compilation.options(lstm, config, part) == {} for part in ("profiles", "lyapunov", "seed_experiment"))


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the quick options apply on CPU")
def test_quick_compiled_programs_measure_the_same_numbers():
    """Every measurement compiled at the lower levels equals the one at XLA's default level."""
    grid = {"conditions.input_scale": (0.5, 1.0, 2.0)}
    quick, full = _config("gru", **grid), _config("gru", quick_compile=False, **grid)
    (entry,) = entries_lib.build_entries(quick)
    drawn, w = inputs.measurement_inputs(entry, quick), config_lib.windows(quick)
    _, keys, scales = drawn
    a = compilation.compile_measure(entry, quick, drawn, w)(keys, scales)
    b = compilation.compile_measure(entry, full, drawn, w)(keys, scales)
    for key in ("lyapunov", "T8/gradient_vs_length", "T8/contribution_norm", "T8/spectral_norm", "T8/singular_values"):
        np.testing.assert_allclose(a[key], b[key], rtol=2e-5, atol=1e-7)


def test_bad_quick_compile_is_one_line():
    import ml_collections

    config = ml_collections.ConfigDict({**_config("rnn").to_dict(), "quick_compile": "yes"})  # past type safety
    with pytest.raises(ValueError, match=r"config.quick_compile='yes' is invalid; valid choices: \[True, False\]"):
        entries_lib.build_entries(config)


def test_float64_recheck_fills_float32_underflow_with_the_float64_norms():
    """A saturated tanh RNN (s = 3, T = 400) underflows float32 to exact zeros: the recheck (float64 stacks,
    peak-scaled SVD) finds those lengths, is positive there and equals the float32 SVD norms where float32
    still reads them."""
    config = _config("rnn", **{"T": 400, "conditions.T": (400,), "conditions.input_scale": (3.0,),
                               "default_input_scale": 3.0, "num_seeds": 1, "num_inputs": 1,
                               "seed_experiment.lengths": (4,)})
    (entry,) = entries_lib.build_entries(config)
    measured = measurements.measure(entry, config, inputs.measurement_inputs(entry, config),
                                    programs.measure_fn(entry, config, jnp.float32))
    raw, raw64 = measured.arrays, measured.float64
    norms32 = np.asarray(raw["T400/spectral_norm"], np.float64)[0, 0, 0]
    assert (norms32 == 0).any(), "the setting must underflow float32"
    assert list(raw64) == [400]
    norms64 = np.asarray(raw64[400])[0, 0, 0]
    assert (norms64[norms32 == 0] > 0).all()
    normal = norms32 > 1e-30
    np.testing.assert_allclose(norms64[normal], norms32[normal], rtol=1e-3)


def test_recheck_norm_is_float64_svd_norm_far_below_float32_range():
    """``peak·σ₁(J/peak)`` (`programs.peak_scaled`, `programs.top_singular_fn`) equals NumPy's float64 SVD norm
    of matrices at 1e-60 (float32's smallest normal is 1e-38) and of an exact zero matrix."""
    rng = np.random.default_rng(0)
    with jax.enable_x64(True):
        mats = rng.normal(size=(3, 6, 5, 5)) * np.logspace(-60, 0, 6)[None, :, None, None]
        mats[0, 0] = 0.0
        scaled, peak = programs.peak_scaled(jnp.asarray(mats))
        assert scaled.dtype == jnp.float32 and peak.dtype == jnp.float64
        norms = np.asarray(programs.top_singular_fn()({"stack/T6": scaled})["stack/T6"], np.float64) * np.asarray(peak)
    expected = np.linalg.norm(mats, ord=2, axis=(-2, -1))
    assert norms[0, 0] == 0.0
    np.testing.assert_allclose(norms, expected, rtol=1e-6, atol=0)


def test_batched_stacks_equal_one_sequence_at_a_time():
    """`programs._stacks` of 2 scales × 2 seeds × 2 inputs = 8 sequences, 3 at a time (a remainder of 2) and all 8
    at once, equal the stacks taken one at a time, and each sequence's stack is `jacobians_by_length` of its own
    seed's parameters and input."""
    config = _config("lstm", **{"conditions.T": (5, 8), "conditions.input_scale": (0.5, 2.0), "default_input_scale": 0.5,
                                "burn_in": 0})  # the zero-state prefixes: one stack per length
    (entry,) = entries_lib.build_entries(config)
    dtype, keys, scales = inputs.measurement_inputs(entry, config)
    params = inputs.params_fn(entry, config, dtype)(keys)
    data = inputs.data_fn(entry, config, dtype, config_lib.windows(config).sequence_length)(keys)
    out = {}
    for batch in (1, 3, 8):
        with config.unlocked():
            config.sequence_batch = batch
        out[batch] = jax.tree.map(np.asarray, jax.jit(
            lambda p, xs, s: programs._stacks(entry, config, config_lib.windows(config), p, xs, s))(params, data["xs"], scales))
    for batch in (3, 8):
        for T in (5, 8):
            np.testing.assert_array_equal(out[batch][T], out[1][T])
    xs = inputs.draw_inputs(entry, config, keys[1], 8, dtype)[0]
    seed_params = jax.tree.map(lambda leaf: leaf[1], params)
    J5, J8 = windows.jacobians_by_length(entry.model, seed_params, scales[1] * xs[0], entry.site, (5, 8))
    np.testing.assert_allclose(out[1][5][1, 1, 0], J5, rtol=1e-6)
    np.testing.assert_allclose(out[1][8][1, 1, 0], J8, rtol=1e-6)


def test_sequence_batch_by_architecture_and_bad_value():
    """Sequential recurrences take `programs.SEQUENTIAL_BATCH` sequences at a time, parallel models one, a set
    ``config.sequence_batch`` wins, and a bad value is a one-line error before anything compiles."""
    config = _config("rnn,transformer")
    rnn, transformer = entries_lib.build_entries(config)
    assert programs.sequence_batch(rnn, config) == programs.SEQUENTIAL_BATCH > 1
    assert programs.sequence_batch(transformer, config) == 1
    with config.unlocked():
        config.sequence_batch = 4
    assert programs.sequence_batch(transformer, config) == 4
    with config.unlocked():
        config.sequence_batch = -1
    with pytest.raises(ValueError, match=r"config.sequence_batch=-1 is invalid: an integer >= 0"):
        entries_lib.build_entries(config)
