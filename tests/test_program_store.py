"""The main job's programs kept between runs: a rerun traces nothing and measures the same numbers."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import gradient_flow
from seqgrad.jobs.gradient_flow import compilation, inputs, program_store, programs
from seqgrad.jobs.gradient_flow import config as config_lib
from seqgrad.jobs.gradient_flow import entries as entries_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(names: str, **overrides):
    config = gradient_flow.get_config(names)
    with config.unlocked():
        config.update_from_flattened_dict({
            "T": 8, "num_seeds": 2, "num_inputs": 2, "hidden_size": 4, "input_size": 2, "conditions.T": (8,),
            "conditions.input_scale": (0.5, 1.0), "fixed_distances": (1,), "lyapunov.T": 20, "lyapunov.burn_in": 2,
            "lyapunov.num_exponents": 2, "seed_experiment.lengths": (4, 8), "burn_in": 4, **overrides})
    return config


def _measure(entry, config, directory):
    cache = compilation.ProgramCache(program_store.ProgramStore(directory, config))
    drawn = inputs.measurement_inputs(entry, config)
    measurement = compilation.compile_measure(entry, config, drawn, config_lib.windows(config), cache)
    step = compilation.compile_step(entry, config, cache)
    _, keys, scales = drawn
    return jax.tree.map(np.asarray, measurement(keys, scales)), step, cache.store


def test_a_rerun_traces_nothing_and_measures_the_same_numbers(tmp_path, monkeypatch):
    config = _config("gru")
    (entry,) = entries_lib.build_entries(config)
    first, step, store = _measure(entry, config, str(tmp_path))
    assert store.stored == 2 and store.loaded == 0  # the measurement's programs, the timed step

    def traced(*args, **kwargs):
        raise AssertionError("traced again")

    for module, name in ((programs, "part_fns"), (inputs, "params_fn"), (inputs, "data_fn"),
                         (compilation, "_step_args")):
        monkeypatch.setattr(module, name, traced)
    again, step_again, store = _measure(entry, config, str(tmp_path))
    assert store.loaded == 2 and store.stored == 0
    assert first.keys() == again.keys()
    for key in first:  # the same executables: equal to the bit
        np.testing.assert_array_equal(first[key], again[key], err_msg=key)
    monkeypatch.undo()
    args = compilation._step_args(entry, config)
    np.testing.assert_array_equal(jax.tree.leaves(step(*args))[0], jax.tree.leaves(step_again(*args))[0])


def test_the_key_follows_the_config_the_entry_and_the_source(monkeypatch):
    config = _config("gru,gru_update_bias_neg")
    gru, gru_neg = entries_lib.build_entries(config)
    store = program_store.ProgramStore("unused", config)
    key = store.key([*program_store.describe(gru), "measure"])
    assert key == program_store.ProgramStore("unused", _config("gru,gru_update_bias_neg")).key(
        [*program_store.describe(gru), "measure"])
    assert key != store.key([*program_store.describe(gru_neg), "measure"])  # another initialisation
    assert key != store.key([*program_store.describe(gru), "step"])
    assert key != program_store.ProgramStore("unused", _config("gru,gru_update_bias_neg", hidden_size=5)).key(
        [*program_store.describe(gru), "measure"])
    monkeypatch.setattr(program_store, "_source_digest", lambda: "an edited seqgrad")
    assert key != store.key([*program_store.describe(gru), "measure"])


def test_trained_runs_imported_cells_and_models_from_outside_seqgrad_are_not_stored():
    config = _config("gru")
    (entry,) = entries_lib.build_entries(config)
    assert program_store.storable(entry)

    class Outside(type(entry.model)):
        pass

    outside = entries_lib.Entry(entry.name, entry.arch, entry.options, entry.site, Outside(hidden_size=4))
    assert not program_store.storable(outside)
    trained = entries_lib.Entry(entry.name, entry.arch, entry.options, entry.site, entry.model, trained=object())
    assert not program_store.storable(trained)
    config.extra_entries = "nnx:flax.nnx:GRUCell,flax:GRUCell"  # wrapped by seqgrad, defined elsewhere
    imported = [e for e in entries_lib.build_entries(config) if e.name != "gru"]
    assert len(imported) == 2 and not any(program_store.storable(e) for e in imported)


def test_an_unreadable_file_is_set_aside_and_the_programs_traced_again(tmp_path, caplog):
    config = _config("rnn")
    store = program_store.ProgramStore(str(tmp_path), config)
    fn, x = jax.jit(lambda a: jnp.tanh(a) * 2.0), jax.ShapeDtypeStruct((3,), jnp.float32)
    path = store.path(["damaged"])
    os.makedirs(os.path.dirname(path))
    with open(path, "wb") as f:
        f.write(b"half a file")
    with caplog.at_level(logging.WARNING):
        lowered = store.lowered(["damaged"], lambda: {"f": (fn, (x,))})
    assert "could not be read" in caplog.text and os.path.exists(path + ".unreadable")
    np.testing.assert_allclose(lowered["f"].compile()(jnp.ones(3)), 2 * np.tanh(1.0), rtol=1e-6)
    assert store.stored == 1 and os.path.exists(path)  # stored again, readable this time
    assert store.lowered(["damaged"], lambda: pytest.fail("traced again")).keys() == {"f"}


def test_a_stored_svd_runs_in_a_fresh_process(tmp_path):
    """A fresh process that has lowered no linear algebra yet runs a stored SVD (the spectra's LAPACK call),
    its executable from JAX's persistent cache: the same singular values, no crash."""
    script = textwrap.dedent(f"""
        import sys, jax, jax.numpy as jnp, numpy as np
        from experiments import gradient_flow
        from seqgrad.jobs.gradient_flow import program_store
        config = gradient_flow.get_config("rnn")
        jax.config.update("jax_compilation_cache_dir", {str(tmp_path / "xla")!r})  # the executable from JAX's cache
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        store = program_store.ProgramStore({str(tmp_path)!r}, config)
        make = lambda: {{"svd": (jax.jit(lambda a: jnp.linalg.svd(a, compute_uv=False)), (jax.ShapeDtypeStruct((4, 4), jnp.float32),))}}
        r = store.lowered(["svd"], make)["svd"].compile()(jnp.asarray(np.arange(16.0).reshape(4, 4) + np.eye(4), jnp.float32))
        print(store.loaded, store.stored, float(jnp.prod(r)))
    """)
    env = {**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu"}
    runs = [subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
            for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr[-2000:]
    (first_loaded, first_stored, det), (loaded, stored, det_again) = (r.stdout.split() for r in runs)
    assert (first_loaded, first_stored, loaded, stored) == ("0", "1", "1", "0")
    expected = abs(np.linalg.det(np.arange(16.0).reshape(4, 4) + np.eye(4)))  # the product of the singular values
    assert float(det) == float(det_again) and float(det) == pytest.approx(expected, rel=1e-4)


# Other values for every key the store leaves out of its key (`program_store.READ_AFTER_MEASURING`).
AFTER_MEASURING = {"plots.dpi": 50, "plots.columns": 2, "claims.dominance": 0.5, "regime.timescale": 50.0,
                   "regime.block": 4, "shape.min_r2": 0.5, "horizon_threshold": 0.5, "decay_min_distance": 2,
                   "underflow_margin_decades": 3.0, "fixed_distances": (2,), "float64_recheck": False, "workers": 1,
                   "compilation_cache_dir": "none", "timing.repeats": 0}


def test_keys_read_after_measuring_change_no_program_and_no_key():
    """Every program of three kinds of entry (a sequential recurrence with a bound, a two-part state, the
    sketch) lowers to the same text under other values of all the keys the store leaves out of its key."""
    assert {k.split(".")[0] for k in AFTER_MEASURING} == set(program_store.READ_AFTER_MEASURING)
    names = "cornn,lstm_state,gru"
    base, other = _config(names), _config(names, **AFTER_MEASURING)
    sketch = {"method": "sketch", "sketch.num_probes": 2}
    for a, b in ((base, other), (_config("gru", **sketch), _config("gru", **sketch, **AFTER_MEASURING))):
        for ea, eb in zip(entries_lib.build_entries(a), entries_lib.build_entries(b)):
            texts = [{name: fn.lower(*args).as_text() for name, (fn, args) in compilation.measure_programs(
                entry, config, inputs.measurement_inputs(entry, config), config_lib.windows(config)).items()}
                for config, entry in ((a, ea), (b, eb))]
            assert texts[0].keys() == texts[1].keys() and len(texts[0]) >= 4, ea.name
            for name in texts[0]:
                assert texts[0][name] == texts[1][name], (ea.name, name)
    store = lambda config: program_store.ProgramStore("unused", config)  # noqa: E731
    assert store(base).key(["x"]) == store(other).key(["x"]) != store(_config(names, num_inputs=3)).key(["x"])
