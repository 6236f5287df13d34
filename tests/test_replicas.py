"""The replica axis: R = train.num_seeds × (product of train.hparams lists) replicas in
one compiled program. Replica i must reproduce the single run of its seed and
hyper-parameters (final eval loss within 1e-4 relative: float32 round-off of
batched vs unbatched matmuls), and resume exactly like a single run.
"""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from seqgrad import train
from seqgrad.train import config as cfg
from seqgrad.train.state import Trainer
from seqgrad.train import hparams
from tests import train_helpers as th

th.use_compilation_cache()

RTOL = 1e-4


def single_eval(tmp_path, name, **overrides):
    return train.train_and_evaluate(th.tiny_config(**overrides), str(tmp_path / name))["eval"]


@pytest.fixture(scope="module")
def seeds_run(tmp_path_factory):
    """Two seeds (5, 6) in one program, with the CPU's default execution (``lax.map``)."""
    workdir = tmp_path_factory.mktemp("seeds")
    out = train.train_and_evaluate(th.tiny_config(**{"train.seed": 5, "train.num_seeds": 2}), str(workdir))
    return workdir, out


def test_replicas_are_the_product_of_hparams_times_seeds_innermost():
    config = th.tiny_config(
        **{"train.seed": 3, "train.num_seeds": 2, "train.hparams": '{"optim.learning_rate": [0.1, 0.2], "optim.clip_value": [1, 2]}'}
    )
    assert hparams.replicas(config) == [
        {"seed": s, "optim.learning_rate": lr, "optim.clip_value": cv}
        for lr in (0.1, 0.2)
        for cv in (1.0, 2.0)
        for s in (3, 4)
    ]
    single = hparams.replica_config(config, hparams.replicas(config)[5])
    assert (single.train.seed, single.optim.learning_rate, single.optim.clip_value) == (4, 0.2, 1.0)
    assert single.train.num_seeds == 1 and single.train.hparams == ""


def test_replica_i_equals_the_single_run_of_seed_plus_i(tmp_path, seeds_run):
    workdir, out = seeds_run
    assert [r["seed"] for r in out["replicas"]] == [5, 6]
    losses = [r["eval"]["loss"] for r in out["replicas"]]
    assert out["eval"]["loss"] == pytest.approx(float(np.median(losses)), rel=1e-6)
    assert losses[0] != losses[1]  # the seeds really differ
    for i, seed in enumerate((5, 6)):
        alone = single_eval(tmp_path, f"s{seed}", **{"train.seed": seed})
        assert losses[i] == pytest.approx(alone["loss"], rel=RTOL)
    rows = th.metrics_rows(workdir)
    for row in rows:
        assert len(row["replicas"]["loss"]) == 2
        assert row["loss"] == pytest.approx(float(np.median(row["replicas"]["loss"])), rel=1e-6)
        assert row["replicas"]["learning_rate"] == [pytest.approx(1e-2)] * 2


def test_vmapped_learning_rate_sweep_equals_separate_runs(tmp_path):
    sweep = {"train.hparams": json.dumps({"optim.learning_rate": [0.003, 0.03]}), "train.replica_execution": "vmap"}
    out = train.train_and_evaluate(th.tiny_config(**sweep), str(tmp_path / "sweep"))
    assert [(r["optim.learning_rate"], r["seed"]) for r in out["replicas"]] == [(0.003, 0), (0.03, 0)]
    rows = th.metrics_rows(tmp_path / "sweep")
    np.testing.assert_allclose(rows[0]["replicas"]["learning_rate"], [0.003, 0.03], rtol=1e-6)
    for i, lr in enumerate((0.003, 0.03)):
        alone = single_eval(tmp_path, f"lr{lr}", **{"optim.learning_rate": lr})
        assert out["replicas"][i]["eval"]["loss"] == pytest.approx(alone["loss"], rel=RTOL), lr


def test_map_and_vmap_agree(tmp_path, seeds_run):
    _, mapped = seeds_run
    config = th.tiny_config(**{"train.seed": 5, "train.num_seeds": 2, "train.replica_execution": "vmap"})
    vmapped = train.train_and_evaluate(config, str(tmp_path))
    for a, b in zip(mapped["replicas"], vmapped["replicas"]):
        assert a["eval"]["loss"] == pytest.approx(b["eval"]["loss"], rel=RTOL)


def test_forget_bias_sweep_initialises_like_single_runs():
    sweep = th.tiny_config("lstm", **{"train.hparams": json.dumps({"model.options.forget_bias": [0.0, 2.0]})})
    state = Trainer(sweep).init()
    H = 8
    for i, bias in enumerate((0.0, 2.0)):
        single = hparams.replica_config(sweep, hparams.replicas(sweep)[i])
        assert single.model.options.forget_bias == bias
        alone = Trainer(single).init()
        mine = jax.tree.map(lambda x: np.asarray(x)[i : i + 1], state)
        th.assert_trees_equal(mine, jax.tree.map(np.asarray, alone))
        forget = np.asarray(state["params"]["model"]["params"]["layer_0"]["bias"])[i, H : 2 * H]
        np.testing.assert_array_equal(forget, bias)


def test_replicas_resume_exactly(tmp_path):
    replicas = {"train.hparams": json.dumps({"optim.clip_value": [0.1, 1.0]})}
    whole, split = tmp_path / "whole", tmp_path / "split"
    train.train_and_evaluate(th.tiny_config(**replicas), str(whole))
    train.train_and_evaluate(th.tiny_config(**replicas, **{"train.steps": 20}), str(split))
    out = train.train_and_evaluate(th.tiny_config(**replicas), str(split))
    assert out == {**th.result(whole), "wall_time_s": out["wall_time_s"], "steps_per_s": out["steps_per_s"]}
    assert th.metrics_rows(split) == th.metrics_rows(whole)
    trainer = Trainer(th.tiny_config(**replicas))
    th.assert_trees_equal(th.final_state(split, trainer)[1], th.final_state(whole, trainer)[1])
