"""Main-job entries of trained runs (``config.entries.NAME.workdir``): restored replicas are what is measured."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import gradient_flow
from seqgrad.gradflow import seeds, state_jacobians
from seqgrad.train import loop
from seqgrad.jobs.gradient_flow import entries as entries_lib
from seqgrad.jobs.gradient_flow import inputs
from seqgrad.jobs import gradient_flow as job
from seqgrad.jobs.gradient_flow import programs
from tests.conftest import tiny_adding_run

T = 8


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    c = tiny_adding_run(T, steps=4, every=2)
    workdir = str(tmp_path_factory.mktemp("trained") / "gru")
    loop.train_and_evaluate(c, workdir)
    return workdir


def _config(workdir, entry="gru"):
    config = gradient_flow.get_config(entry)
    config.entries[entry].workdir = workdir
    config.T, config.conditions.T, config.conditions.input_scale = T, (T,), (1.0,)
    config.num_inputs, config.fixed_distances = 2, (1, 4)
    config.lyapunov.T, config.lyapunov.burn_in = 20, 2
    config.burn_in = 0  # the zero-state profile, compared below with state_jacobians on the same T steps
    config.seed_experiment.lengths = (4, T)
    config.timing.repeats, config.workers, config.compilation_cache_dir = 1, 1, "none"
    config.trained.num_sequences, config.trained.jacobian_sequences = 4, 1
    return config


def test_trained_entry_measures_each_restored_replica(run_dir):
    from seqgrad.jobs import trained

    config = _config(run_dir)
    (entry,) = entries_lib.build_entries(config)
    run = trained.load(run_dir)
    assert entry.trained is not None and entry.model.hidden_size == 4 and inputs.num_seeds(entry, config) == 2
    keys = seeds.keys(config.seed, 2)
    raw = programs.measure_fn(entry, config, jnp.float32)(keys, np.ones(1, np.float32))
    norms = np.asarray(raw[f"T{T}/spectral_norm"])  # [C, S, I, T]
    assert norms.shape == (1, 2, 2, T)
    for r in range(2):  # replica r's restored weights, on the inputs seed r draws: the stack by jacrev
        _, xs, _, _ = inputs.draw(entry, config, keys[r], T, jnp.float32, r)
        J = state_jacobians(run.trainer.model, run.replica(r)["model"], xs[1])
        expected = np.linalg.norm(np.asarray(J), 2, axis=(1, 2))[::-1]
        np.testing.assert_allclose(norms[0, r, 1], expected, rtol=1e-4, atol=1e-7)
    init = run.trainer.init()["params"]["model"]  # not the initialisation
    J0 = state_jacobians(run.trainer.model, jax.tree.map(lambda v: v[0], init), xs[1])
    assert not np.allclose(np.linalg.norm(np.asarray(J0), 2, axis=(1, 2))[::-1], norms[0, 0, 1], rtol=1e-4)


def test_trained_entry_record_names_the_run(run_dir, tmp_path):
    report = job.run(_config(run_dir), str(tmp_path / "gf"))
    record = report.architectures["gru"]
    assert record.workdir == run_dir and record.num_seeds == 2
    info = record.trained
    assert info["step"] == 4 and info["replicas"] == 2 and info["task"] == "adding" and "loss" in info["eval"]
    on_task = info["on_task"]
    assert len(on_task["input_profile"]) == T and on_task["gates"]["gate"] == "update"
    import json

    data = json.loads((tmp_path / "gf" / "gradient_flow.json").read_text())
    assert data["architectures"]["gru"]["trained"]["step"] == 4


def test_bad_workdirs_are_one_line_errors(run_dir, tmp_path):
    with pytest.raises(ValueError, match=r"config.entries.gru.workdir='.*nowhere'.*no readable config.json"):
        entries_lib.build_entries(_config(str(tmp_path / "nowhere")))
    with pytest.raises(ValueError, match=r"holds a 'gru' run but the entry names arch='lstm'"):
        entries_lib.build_entries(_config(run_dir, "lstm"))
