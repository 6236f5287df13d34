"""Training models named by import string: a Flax NNX cell (``nnx:flax.nnx:GRUCell``) resumes
bit-exactly like a registered model; a user's NNX cell takes its options from the command line.

Runs are the training tests' tiny ones (`train_helpers`: adding problem, T = 10, H = 8).
"""

from __future__ import annotations

import json

from seqgrad import train
from seqgrad.train.state import Trainer
from tests import train_helpers as th

th.use_compilation_cache()

GRU = {"model.name": "nnx:flax.nnx:GRUCell"}


def test_nnx_cell_trains_checkpoints_and_resumes_bit_exactly(tmp_path):
    """20 steps, then the same config with train.steps = 40, equals 40 steps in one go."""
    whole, split = tmp_path / "whole", tmp_path / "split"
    out = train.train_and_evaluate(th.tiny_config(**GRU), str(whole))
    assert out["step"] == 40 and out["eval"]["mse"] < 1.0
    assert train.train_and_evaluate(th.tiny_config(**GRU, **{"train.steps": 20}), str(split))["step"] == 20
    assert train.train_and_evaluate(th.tiny_config(**GRU), str(split))["eval"] == out["eval"]
    assert th.metrics_rows(split) == th.metrics_rows(whole)
    trainer = Trainer(th.tiny_config(**GRU))
    (step_a, state_a), (step_b, state_b) = th.final_state(whole, trainer), th.final_state(split, trainer)
    assert step_a == step_b == 40
    th.assert_trees_equal(state_a, state_b)


def test_train_script_resumes_an_nnx_cell_bit_exactly(tmp_path):
    """scripts/train.py: 20 steps, then the same command with train.steps = 40, equals 40 steps in one go."""
    whole, split = tmp_path / "whole", tmp_path / "split"
    train.train_and_evaluate(th.tiny_config(**GRU), str(whole))
    for steps in (20, 40):
        proc = th.run_script(split, f"--config.model.name={GRU['model.name']}", f"--config.train.steps={steps}")
        assert proc.returncode == 0, proc.err
    assert th.result(split)["eval"] == th.result(whole)["eval"]
    assert th.metrics_rows(split) == th.metrics_rows(whole)
    trainer = Trainer(th.tiny_config(**GRU))
    th.assert_trees_equal(th.final_state(whole, trainer)[1], th.final_state(split, trainer)[1])


def test_users_nnx_cell_takes_its_option_from_the_command_line(tmp_path):
    proc = th.run_script(tmp_path / "run", "--config.model.name=tests.nnx_cells:Leaky",
                         "--config.model.options.leak=0.3", "--config.train.steps=10")
    assert proc.returncode == 0, proc.err
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["model"]["name"] == "tests.nnx_cells:Leaky" and saved["model"]["options"]["leak"] == 0.3
    assert th.result(tmp_path / "run")["step"] == 10
    bad = th.run_script(tmp_path / "bad", "--config.model.name=tests.nnx_cells:Leaky", "--config.model.options.leek=0.3")
    assert bad.returncode == 2
    assert bad.err.strip().splitlines()[-1] == ("error: model.options.leek=0.3 was set, but architecture "
                                                "'tests.nnx_cells:Leaky' takes no option 'leek'; valid options: "
                                                "['leak', 'unroll']")
