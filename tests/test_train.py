"""The training loop: outputs of a run, exact resume, a longer run on resume, config
checks on resume, divergence, and every bad input's message.

Runs are tiny (adding problem, T = 10, tanh RNN with H = 8) and share compiled
programs through the persistent compilation cache (`train_helpers`).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from seqgrad import train
from seqgrad.train import config as cfg
from seqgrad.train.state import Trainer
from seqgrad.train import validation
from tests import train_helpers as th

th.use_compilation_cache()


def test_run_writes_metrics_result_checkpoints_and_snapshots(tmp_path):
    config = th.tiny_config(**{"train.steps": 20, "snapshot.every": 10})
    out = train.train_and_evaluate(config, str(tmp_path))
    assert out == th.result(tmp_path)
    assert out["step"] == 20
    assert set(out["eval"]) == {"loss", "mse"}
    assert out["baseline"] == {"loss": 1 / 6, "mse": 1 / 6}
    rows = th.metrics_rows(tmp_path)
    assert [r["step"] for r in rows] == [10, 20]
    for row in rows:
        assert {"loss", "grad_norm", "clip_fraction", "learning_rate", "nonfinite"} <= set(row)
        assert 0.0 <= row["clip_fraction"] <= 1.0 and row["nonfinite"] == 0
        assert row["learning_rate"] == pytest.approx(1e-2)
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["10", "20"]
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(tmp_path / "tb"))
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model"]["name"] == "rnn" and saved["task"]["length"] == 10

    # Gradient-flow snapshots at steps 0, 10, 20: ‖∂h_{T-1}/∂h_{T-1-d}‖₂ for d = 0..T-1,
    # with d = 0 the identity (norm 1), plotted at the end.
    snaps = [json.loads(line) for line in (tmp_path / "gradflow.jsonl").read_text().splitlines()]
    assert [s["step"] for s in snaps] == [0, 10, 20]
    for snap in snaps:
        assert len(snap["norms"]) == 10
        assert snap["norms"][0] == pytest.approx(1.0, rel=1e-5)
    assert (tmp_path / "gradflow.png").stat().st_size > 0


def test_resume_is_bit_identical_and_extends_the_run(tmp_path):
    """20 steps, then the same command with train.steps = 40, equals 40 steps in one go."""
    whole, split = tmp_path / "whole", tmp_path / "split"
    train.train_and_evaluate(th.tiny_config(), str(whole))
    first = train.train_and_evaluate(th.tiny_config(**{"train.steps": 20}), str(split))
    assert first["step"] == 20
    second = train.train_and_evaluate(th.tiny_config(), str(split))  # train.steps may change
    assert second["step"] == 40
    assert second["eval"] == th.result(whole)["eval"]
    assert th.metrics_rows(split) == th.metrics_rows(whole)
    trainer = Trainer(th.tiny_config())
    step_a, state_a = th.final_state(whole, trainer)
    step_b, state_b = th.final_state(split, trainer)
    assert step_a == step_b == 40
    th.assert_trees_equal(state_a, state_b)
    # A finished run rerun does no more training and gives the same result.
    assert train.train_and_evaluate(th.tiny_config(), str(split))["eval"] == second["eval"]


def test_resume_drops_metric_rows_after_the_checkpoint(tmp_path):
    """Rows written after the last checkpoint by a killed run are dropped on resume."""
    config = th.tiny_config(**{"train.steps": 20})
    train.train_and_evaluate(config, str(tmp_path))
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 30, "loss": 1.0}) + "\n" + '{"step": 40, "lo')  # torn line
    train.train_and_evaluate(th.tiny_config(), str(tmp_path))
    assert [r["step"] for r in th.metrics_rows(tmp_path)] == [10, 20, 30, 40]
    assert th.metrics_rows(tmp_path)[2]["loss"] != 1.0


def test_changed_config_is_refused_unless_overridden(tmp_path):
    train.train_and_evaluate(th.tiny_config(**{"train.steps": 10}), str(tmp_path))
    changed = th.tiny_config(**{"train.steps": 20, "optim.learning_rate": 0.05, "optim.clip": "value"})
    with pytest.raises(train.ConfigMismatch) as err:
        train.train_and_evaluate(changed, str(tmp_path))
    message = str(err.value)
    assert "optim.learning_rate: 0.01 -> 0.05" in message and "optim.clip: 'global_norm' -> 'value'" in message
    assert "train.steps" not in message and "--override" in message
    allowed = th.tiny_config(**{"train.steps": 20, "optim.learning_rate": 0.05, "train.allow_config_change": True})
    assert train.train_and_evaluate(allowed, str(tmp_path))["step"] == 20


def test_divergence_stops_with_its_step_and_keeps_the_last_good_checkpoint(tmp_path):
    train.train_and_evaluate(th.tiny_config(**{"train.steps": 20}), str(tmp_path))
    exploding = th.tiny_config(**{"optim.learning_rate": 1e30, "optim.clip": "none", "train.allow_config_change": True})
    with pytest.raises(train.Diverged, match=r"training diverged at step (\d+): non-finite") as err:
        train.train_and_evaluate(exploding, str(tmp_path))
    assert 21 <= err.value.step <= 40
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["10", "20"]
    rows = th.metrics_rows(tmp_path)
    assert rows[-1]["diverged"] is True and rows[-1]["step"] == err.value.step
    step, state = th.final_state(tmp_path, Trainer(exploding))
    assert step == 20
    assert all(np.all(np.isfinite(leaf)) for leaf in _float_leaves(state["params"]))


def test_skip_nonfinite_keeps_parameters_finite(tmp_path):
    config = th.tiny_config(
        **{"optim.name": "sgd", "optim.learning_rate": 1e30, "optim.clip": "none", "optim.skip_nonfinite": True}
    )
    # Skipping keeps the parameters finite, but the first (finite) update at lr 1e30 already
    # made them so large that the evaluation is not finite: the run ends as diverged.
    with pytest.raises(train.Diverged, match="the final evaluation is not finite") as err:
        train.train_and_evaluate(config, str(tmp_path))
    assert err.value.step == 40 and err.value.exit_code == 4
    rows = th.metrics_rows(tmp_path)
    skipped = sum(r["nonfinite"] for r in rows)
    assert skipped > 0
    result = th.result(tmp_path)
    assert result["diverged"] is True and result["nonfinite_skipped"] == skipped
    assert f"{skipped} non-finite updates were skipped" in result["error"]
    _, state = th.final_state(tmp_path, Trainer(config))
    assert all(np.all(np.isfinite(leaf)) for leaf in _float_leaves(state["params"]))


def test_checkpoints_of_another_optimizer_are_refused_not_ignored(tmp_path):
    train.train_and_evaluate(th.tiny_config(**{"train.steps": 10}), str(tmp_path))
    other = th.tiny_config(**{"optim.name": "sgd", "train.allow_config_change": True})
    with pytest.raises(train.ConfigMismatch, match="no checkpoint in .* can be restored"):
        train.train_and_evaluate(other, str(tmp_path))


def _float_leaves(tree):
    import jax

    return [x for x in jax.tree.leaves(tree) if np.issubdtype(np.asarray(x).dtype, np.floating)]


BAD = [
    ({"model.name": "lstmm"}, r"model.name='lstmm' is unknown; valid choices: \[.*'lstm'.*\]"),
    ({"task.name": "add"}, r"task.name='add' is unknown; valid choices: \['adding', .*'copy', 'delayed_recall', 'digits'.*\]"),
    ({"optim.name": "adamax"}, r"optim.name='adamax' is unknown; valid choices: \['sgd', 'momentum', 'adam', 'adamw', 'rmsprop'\]"),
    ({"optim.clip": "norm"}, r"optim.clip='norm' is unknown; valid choices: \['none', 'value', 'global_norm', 'adaptive', 'block_rms'\]"),
    ({"optim.schedule": "cosine"}, r"optim.schedule='cosine' is unknown; valid choices: \['constant', 'warmup_cosine'\]"),
    ({"model.hidden_size": 0}, r"model.hidden_size=0 is invalid: it must be an integer >= 1"),
    ({"train.batch_size": -4}, r"train.batch_size=-4 is invalid"),
    ({"train.steps": 0}, r"train.steps=0 is invalid"),
    ({"train.num_seeds": 0}, r"train.num_seeds=0 is invalid"),
    ({"optim.learning_rate": 0.0}, r"optim.learning_rate=0.0 is invalid: it must be a number > 0"),
    ({"optim.clip_value": -1.0}, r"optim.clip_value=-1.0 is invalid"),
    ({"checkpoint.every": 0}, r"checkpoint.every=0 is invalid"),
    ({"task.length": 1}, r"task.length=1 is invalid: it must be an integer >= 2 \(the adding problem"),
    ({"train.replica_execution": "pmap"}, r"train.replica_execution='pmap' is unknown; valid choices: \['auto', 'vmap', 'map'\]"),
    ({"train.hparams": '{"optim.b1": [0.9]}'}, r"train.hparams key 'optim.b1' cannot be vmapped; valid keys"),
    ({"train.hparams": "[1, 2]"}, r"train.hparams=.* must be a JSON object"),
    ({"train.hparams": '{"optim.learning_rate": []}'}, r"must be a non-empty list of numbers"),
    ({"train.hparams": '{"model.options.forget_bias": [1.0]}'}, r"model 'rnn' has no forget_bias option"),
    ({"model.options.activation": "sigmoid"}, r"model.options: activation='sigmoid' is invalid .*valid choices: \['tanh', 'relu', 'linear'\]"),
]


@pytest.mark.parametrize("overrides, match", BAD, ids=[next(iter(o)) + "=" + str(next(iter(o.values()))) for o, _ in BAD])
def test_bad_config_fails_before_compiling(overrides, match, tmp_path):
    config = th.tiny_config(**overrides)
    with pytest.raises(ValueError, match=match):
        validation.validate(config)
    with pytest.raises(ValueError, match=match):
        train.train_and_evaluate(config, str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()  # nothing written, nothing compiled


def test_skip_longer_than_the_sequence_is_refused():
    config = th.experiment("adding", "skip_rnn")
    config.task.length = 8
    config.model.options.skip = 8
    with pytest.raises(ValueError, match=r"model.options.skip=8 is invalid for task.length=8: the sequence has 8 steps"):
        validation.validate(config)


def test_misspelled_key_is_refused_by_the_locked_config():
    config = th.experiment("adding", "lstm")
    with pytest.raises(AttributeError):
        config.optim.learning_rat = 0.1
    config.model.options.forget_bias = 0.0  # every model option exists, so it can be overridden


def test_script_reports_bad_input_with_exit_code(tmp_path):
    proc = th.run_script(tmp_path / "run", "--config.optim.clip=clipp")
    assert proc.returncode == 2, proc.err
    assert "optim.clip='clipp' is unknown; valid choices:" in proc.err


# --------------------------------------------------------------------------- switching architecture


EXPERIMENTS = ("adding", "copy", "delayed_recall", "digits")


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_switches_to_every_architecture_by_override(name):
    """``--config=experiments/<name>.py:lstm --config.model.name=<arch>``: the LSTM's
    options that <arch> does not take are dropped, and the model builds."""
    import seqgrad.models as models

    base = th.experiment(name, "lstm")
    for arch in models.available():
        c = base.copy_and_resolve_references()
        c.model.name = arch
        cfg.check_overrides(c, {"model.name": arch})  # nothing explicit: accepted
        try:
            validation.validate(c)
        except ValueError as e:  # a bound that depends on the architecture, not a leftover option
            assert "takes no option" not in str(e) and "unknown option" not in str(e), (arch, e)
            continue
        options = cfg.model_options(c)
        assert set(options) <= set(models.info(arch).options)
        assert {k: v for k, v in c.model.options.items() if k in models.info(arch).options} == options
        cfg.make_model(c)


def test_an_option_set_explicitly_for_another_architecture_is_an_error():
    c = th.experiment("adding", "lstm")
    c.model.name, c.model.options.forget_bias = "gru", 2.0
    with pytest.raises(ValueError, match=r"model.options.forget_bias=2.0 was set, but architecture 'gru' takes no "
                                         r"option 'forget_bias'; valid options: \["):
        cfg.check_overrides(c, {"model.name": "gru", "model.options.forget_bias": 2.0})
    validation.validate(c)  # without the explicit keys (a leftover), it is dropped instead


def test_switched_architecture_trains(tmp_path):
    """The README's command: an LSTM experiment trained as a GRU (tiny)."""
    config = th.tiny_config("lstm", **{"model.name": "gru", "train.steps": 10})
    out = train.train_and_evaluate(config, str(tmp_path))
    assert out["model"]["name"] == "gru" and out["step"] == 10
    assert "forget_bias" in json.loads((tmp_path / "config.json").read_text())["model"]["options"]  # kept as given


def test_metrics_log_the_learning_rate_actually_applied(tmp_path):
    """With ``optim.skip_nonfinite``, a skipped update applies learning rate 0 and does not
    advance the schedule: the logged rate is the applied one, not the schedule at the step."""
    import jax
    import jax.numpy as jnp

    config = th.tiny_config(**{"optim.name": "sgd", "optim.learning_rate": 0.3, "optim.schedule": "warmup_cosine",
                               "optim.warmup_steps": 4, "optim.decay_steps": 40, "optim.skip_nonfinite": True,
                               "optim.clip": "none"})
    trainer = Trainer(config)
    state = jax.tree.map(lambda a: a[0], trainer.init())  # one replica
    good = trainer.batch(state["key"], state["step"])
    bad = (good[0].at[0, 0, 0].set(jnp.nan), *good[1:])
    from seqgrad.train import optim

    s = optim.schedule(config.optim, config.train.steps)
    logged = []
    for batch in (good, bad, bad, good):
        before = state["params"]
        grads = jax.grad(lambda p: trainer.task.loss(trainer.apply(p, batch[0]), batch[1], batch[2]))(before)
        state, metrics = trainer.update(state, batch)
        logged.append(float(metrics["learning_rate"]))
        delta = jax.tree.map(lambda a, b: np.asarray(a) - np.asarray(b), before, state["params"])
        # sgd without clipping: the parameter change is exactly lr_applied · g
        for d, g in zip(jax.tree.leaves(delta), jax.tree.leaves(grads)):
            if logged[-1] == 0.0:
                np.testing.assert_array_equal(d, 0.0)
            else:
                np.testing.assert_allclose(d, logged[-1] * np.asarray(g), rtol=2e-4, atol=1e-7)
    assert logged[1:3] == [0.0, 0.0]
    assert logged[0] == pytest.approx(0.3 * float(s(0)), abs=1e-9)
    assert logged[3] == pytest.approx(0.3 * float(s(1)), rel=1e-6)  # the schedule's second value, not s(3)
    assert logged[3] != pytest.approx(0.3 * float(s(3)))


def test_import_string_architectures_are_accepted_by_training_validation():
    config = th.tiny_config(**{"model.name": "flax:GRUCell"})
    validation.validate(config)  # a flax cell by class name is a valid model.name
    assert cfg.make_model(config).apply is not None
    config = th.tiny_config(**{"model.name": "flax:NoSuchCell"})
    with pytest.raises(ValueError, match=r"model.name='flax:NoSuchCell'.*NoSuchCell") as error:
        validation.validate(config)
    assert "\n" not in str(error.value)
