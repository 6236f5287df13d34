"""Gradient flossing (`seqgrad.train.flossing`): the term, its gradient, its effect, its wiring."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models
from seqgrad.gradflow import lyapunov_exponents
from seqgrad.train import config as config_lib
from seqgrad.train import flossing
from seqgrad.train.loop import train_and_evaluate
from seqgrad.train.state import Trainer
from seqgrad.train import validation
from tests.train_helpers import tiny_config, use_compilation_cache

use_compilation_cache()

CHAOTIC = {"model.options.recurrent_init": "normal", "model.options.recurrent_scale": 3.0, "model.hidden_size": 16}


def _first(tree):
    return jax.tree.map(lambda a: a[0], tree)


def test_term_equals_sum_of_squared_exponents_from_gradflow():
    c = tiny_config("rnn", **CHAOTIC, **{"train.flossing.weight": 0.5, "train.flossing.num_exponents": 3,
                                         "train.flossing.length": 8})
    trainer = Trainer(c)
    state = _first(trainer.init())
    inputs, targets, mask = trainer.batch(state["key"], state["step"])
    lam = lyapunov_exponents(trainer.model, state["params"]["model"], inputs[0, :8], num_exponents=3)
    value, got = trainer.flossing.objective(state["params"]["model"], inputs)
    np.testing.assert_allclose(got, lam, rtol=1e-6)
    np.testing.assert_allclose(value, jnp.sum(lam**2), rtol=1e-6)
    # The training step adds weight·Σλ² and reports it, with the task loss on its own.
    _, metrics = jax.jit(trainer.update)(state, (inputs, targets, mask))
    np.testing.assert_allclose(metrics[flossing.PENALTY], 0.5 * jnp.sum(lam**2), rtol=1e-5)
    np.testing.assert_allclose(metrics[flossing.EXPONENTS], lam, rtol=1e-5)
    task_loss = trainer.task.loss(trainer.apply(state["params"], inputs), targets, mask)
    np.testing.assert_allclose(metrics["loss"], task_loss, rtol=1e-6)


def test_gradient_matches_finite_differences_in_float64():
    """⟨∇Σλ², v⟩ against a central difference along a random direction v (ε = 1e-6, float64)."""
    with jax.enable_x64(True):
        model = models.create("rnn", hidden_size=6, recurrent_init="normal", recurrent_scale=2.0, fused=False)
        x = jax.random.normal(jax.random.key(1), (1, 25, 3), jnp.float64)
        params = jax.tree.map(lambda a: a.astype(jnp.float64), model.init(jax.random.key(0), x))

        floss = flossing.Flossing.__new__(flossing.Flossing)
        floss.model, floss.num_exponents, floss.length = model, 2, 25

        def f(p):
            return floss.objective(p, x)[0]

        grads = jax.grad(f)(params)
        leaves, tree = jax.tree.flatten(params)
        keys = jax.random.split(jax.random.key(2), len(leaves))
        v = jax.tree.unflatten(tree, [jax.random.normal(k, a.shape, a.dtype) for k, a in zip(keys, leaves)])
        eps = 1e-6
        plus = f(jax.tree.map(lambda a, d: a + eps * d, params, v))
        minus = f(jax.tree.map(lambda a, d: a - eps * d, params, v))
        directional = sum(jnp.vdot(g, d) for g, d in zip(jax.tree.leaves(grads), jax.tree.leaves(v)))
        np.testing.assert_allclose(directional, (plus - minus) / (2 * eps), rtol=1e-6)


def _top_exponent(trainer, model_params):
    x = trainer.task.batch(jax.random.key(99), 1)[0][0]  # a held-out sequence
    return float(lyapunov_exponents(trainer.model, model_params, x, num_exponents=1)[0])


def test_flossing_alone_drives_a_chaotic_rnn_to_the_edge_of_chaos():
    """g = 3 (chaotic: λ₁ ≈ 0.22 at initialisation on this drive). 60 Adam steps on Σλ² alone
    (flossing before training) bring λ₁ within 0.05 of 0 (seen: −0.023); the same 60 steps on the
    task alone leave it above 0.1 (seen: 0.128): the chaotic network's exploding task gradients
    (‖g‖ ~ 1e2 … 1e5) do not tame it."""
    c = tiny_config("rnn", **CHAOTIC, **{"task.length": 40, "train.steps": 60})
    plain = Trainer(c)
    state = plain.init()
    assert _top_exponent(plain, _first(state)["params"]["model"]) > 0.15
    state, _ = plain.train_chunk(state, c.train.steps)
    assert _top_exponent(plain, _first(state)["params"]["model"]) > 0.1
    c = tiny_config("rnn", **CHAOTIC, **{"task.length": 40, "train.flossing.pretrain_steps": 60,
                                         "train.flossing.pretrain_learning_rate": 1e-2})
    flossed = Trainer(c)
    assert abs(_top_exponent(flossed, _first(flossed.init())["params"]["model"])) < 0.05


def test_flossing_during_training_holds_the_exponent_at_zero():
    """An rnn at g = 1 (λ₁ ≈ −0.14 on this drive) trained 100 steps on adding (T = 40): plain
    training contracts it to λ₁ < −0.3 (seen: −0.47); with weight 1 on k = 4 exponents it stays
    within 0.05 of 0 (seen: −0.014)."""
    def trained(weight):
        c = tiny_config("rnn", **{"model.options.recurrent_init": "normal", "model.hidden_size": 16,
                                  "task.length": 40, "train.steps": 100, "train.flossing.weight": weight,
                                  "train.flossing.num_exponents": 4})
        trainer = Trainer(c)
        state, _ = trainer.train_chunk(trainer.init(), c.train.steps)
        return _top_exponent(trainer, _first(state)["params"]["model"])

    assert trained(0.0) < -0.3
    assert abs(trained(1.0)) < 0.05


def test_weight_zero_compiles_the_program_without_flossing():
    """Weight 0 (and no pre-training): the other flossing keys change nothing, not even the program."""
    plain = Trainer(tiny_config("rnn"))
    inert = Trainer(tiny_config("rnn", **{"train.flossing.every": 3, "train.flossing.num_exponents": 4,
                                          "train.flossing.length": 7}))
    assert plain.flossing is None and inert.flossing is None
    state = plain.abstract_state()
    assert plain._chunk.lower(state, 5).as_text() == inert._chunk.lower(state, 5).as_text()
    assert plain._chunk.lower(state, 5).as_text() != Trainer(
        tiny_config("rnn", **{"train.flossing.weight": 0.1})
    )._chunk.lower(state, 5).as_text()


def test_flossing_works_for_a_flax_cell_and_is_logged(tmp_path):
    """A ``flax:GRUCell`` run flossed every 2nd step: rows of metrics.jsonl and TensorBoard carry
    flossing_lambda_1..2 and flossing_penalty."""
    c = tiny_config("rnn", **{"train.flossing.weight": 0.1, "train.flossing.every": 2,
                              "train.flossing.num_exponents": 2, "train.steps": 20})
    c.model.name = "flax:GRUCell"
    c.model.options = type(c.model.options)()
    train_and_evaluate(c, str(tmp_path))
    rows = [json.loads(line) for line in open(os.path.join(tmp_path, "metrics.jsonl"))]
    assert all({"flossing_lambda_1", "flossing_lambda_2", "flossing_penalty"} <= set(r) for r in rows)
    assert all(r["flossing_lambda_1"] >= r["flossing_lambda_2"] and np.isfinite(r["flossing_penalty"]) for r in rows)
    assert "train/flossing_lambda_1" in _tensorboard_tags(tmp_path / "tb")


def _tensorboard_tags(directory):
    """Scalar tags of the event files (TFRecord framing: u64 length, u32 crc, data, u32 crc)."""
    from tensorboardX.proto import event_pb2

    tags = set()
    for name in os.listdir(directory):
        data = open(os.path.join(directory, name), "rb").read()
        offset = 0
        while offset < len(data):
            length = int.from_bytes(data[offset:offset + 8], "little")
            event = event_pb2.Event.FromString(data[offset + 12:offset + 12 + length])
            tags.update(v.tag for v in event.summary.value)
            offset += 16 + length
    return tags


def test_a_run_saved_before_flossing_existed_resumes():
    """A saved config without train.flossing.* equals today's at the defaults, not at weight 0.5."""
    saved = {k: v for k, v in config_lib.flatten(tiny_config("rnn")).items() if not k.startswith("train.flossing.")}
    assert config_lib.differences(saved, tiny_config("rnn")) == []
    changed = config_lib.differences(saved, tiny_config("rnn", **{"train.flossing.weight": 0.5}))
    assert changed == ["train.flossing.weight: '<absent>' -> 0.5"]


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"train.flossing.num_exponents": 9}, "train.flossing.num_exponents=9 is invalid"),
        ({"train.flossing.length": 11}, "train.flossing.length=11 is invalid"),
        ({"train.flossing.every": 0}, "train.flossing.every=0 is invalid"),
        ({"train.flossing.weight": -1.0}, "train.flossing.weight=-1.0 is invalid"),
    ],
)
def test_bad_keys_are_one_line(overrides, match):
    with pytest.raises(ValueError, match=match):
        validation.validate(tiny_config("rnn", **overrides))


def test_a_model_without_recurrence_is_refused():
    c = tiny_config("rnn", **{"train.flossing.weight": 1.0})
    c.model.name = "transformer"
    c.model.options = type(c.model.options)()
    with pytest.raises(ValueError, match="no recurrence to floss"):
        validation.validate(c)
