"""Tasks: determinism in the key, targets on hand-checked examples, and chance-level
baselines equal to their closed forms on large samples.

Sampling tolerances are several standard errors of the estimate (stated per test).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import tasks

KEY = jax.random.key(0)


@pytest.mark.parametrize("name, length", [
    ("adding", 12), ("copy", 5), ("delayed_recall", 7), ("digits", 64),
    ("selective_copy", 9), ("associative_recall", 14), ("mnist1d", 40),
])
def test_deterministic_in_key_and_shapes(name, length):
    task = tasks.create(name, length=length)
    a = task.batch(KEY, 4)
    b = task.batch(KEY, 4)
    c = task.batch(jax.random.key(1), 4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert not np.array_equal(np.asarray(a[0]), np.asarray(c[0]))
    inputs, targets, mask = a
    assert inputs.shape == (4, task.seq_len, task.input_dim) and inputs.dtype == jnp.float32
    assert targets.shape == (4, task.seq_len) and mask.shape == (4, task.seq_len)
    # jit gives the same batch as eager
    jitted = jax.jit(task.batch, static_argnums=1)(KEY, 4)
    np.testing.assert_array_equal(np.asarray(jitted[0]), np.asarray(inputs))


def test_adding_targets_hand_checked():
    task = tasks.create("adding", length=10)
    inputs, targets, mask = (np.asarray(a) for a in task.batch(KEY, 64))
    values, markers = inputs[..., 0], inputs[..., 1]
    assert np.all((values >= 0) & (values < 1))
    assert np.all(markers.sum(axis=1) == 2)
    assert np.all(markers[:, :5].sum(axis=1) == 1) and np.all(markers[:, 5:].sum(axis=1) == 1)
    np.testing.assert_allclose(targets[:, -1], (values * markers).sum(axis=1), rtol=1e-6)
    assert np.all(targets[:, :-1] == 0)
    np.testing.assert_array_equal(mask, np.tile(np.eye(10)[-1], (64, 1)))
    # The loss reads the last step only: a perfect answer there scores 0.
    perfect = jnp.zeros((64, 10, 1)).at[:, -1, 0].set(targets[:, -1])
    assert float(task.loss(perfect, targets, mask)) == pytest.approx(0.0, abs=1e-12)


def test_adding_constant_predictor_scores_one_sixth():
    # MSE of y = 1 on N samples: mean 1/6, std of (S − 1)² is sqrt(1/15 − 1/36) ≈ 0.197;
    # N = 200 000 gives a standard error of 4.4e-4; tolerance 3e-3 (≈ 7 SE).
    task = tasks.create("adding", length=10)
    inputs, targets, mask = task.batch(KEY, 200_000)
    ones = jnp.ones(targets.shape + (1,))
    assert float(task.loss(ones, targets, mask)) == pytest.approx(1 / 6, abs=3e-3)
    assert task.baseline() == {"loss": 1 / 6, "mse": 1 / 6}


def test_copy_layout_hand_checked():
    T = 5
    task = tasks.create("copy", length=T)
    assert task.seq_len == T + 20
    inputs, targets, mask = (np.asarray(a) for a in task.batch(KEY, 16))
    tokens = inputs.argmax(-1)
    assert np.all(inputs.sum(-1) == 1)  # one-hot
    symbols = tokens[:, :10]
    assert np.all((symbols >= 1) & (symbols <= 8))
    assert np.all(tokens[:, 10 : T + 9] == 0)  # T − 1 blanks
    assert np.all(tokens[:, T + 9] == 9)  # the cue
    assert np.all(tokens[:, T + 10 :] == 0)
    assert np.all(targets[:, : T + 10] == 0)
    np.testing.assert_array_equal(targets[:, T + 10 :], symbols)
    assert np.all(mask == 1)


def test_copy_memoryless_baseline_closed_form():
    T = 30
    task = tasks.create("copy", length=T)
    inputs, targets, mask = task.batch(KEY, 20_000)
    # The memoryless predictor: blank before the output window, uniform over 1..8 in it.
    big = 1e4
    blank = jnp.full((task.output_dim,), -big).at[0].set(0.0)
    uniform = jnp.full((task.output_dim,), 0.0).at[0].set(-big)
    window = (jnp.arange(task.seq_len) >= T + 10)[:, None]
    outputs = jnp.broadcast_to(jnp.where(window, uniform, blank), targets.shape + (task.output_dim,))
    expected = 10 * math.log(8) / (T + 20)
    assert float(task.loss(outputs, targets, mask)) == pytest.approx(expected, rel=1e-5)
    assert task.baseline()["loss"] == pytest.approx(expected, rel=1e-12)
    assert tasks.create("copy", length=1000).baseline()["loss"] == pytest.approx(0.0204, abs=5e-5)
    # The symbols are uniform: the empirical entropy of the copied symbols is ln 8
    # (200 000 symbols; the plug-in estimate is within 1e-3 of ln 8 at this size).
    counts = np.bincount(np.asarray(targets[:, T + 10 :]).ravel(), minlength=9)[1:]
    p = counts / counts.sum()
    assert -np.sum(p * np.log(p)) == pytest.approx(math.log(8), abs=1e-3)


def test_delayed_recall_hand_checked_and_baseline():
    T, K = 6, 5
    task = tasks.create("delayed_recall", length=T, num_symbols=K)
    inputs, targets, mask = (np.asarray(a) for a in task.batch(KEY, 50_000))
    assert inputs.shape[1] == T + 1
    first = inputs[:, 0, :K].argmax(-1)
    np.testing.assert_array_equal(targets[:, -1], first)
    assert np.all(inputs[:, -1, K] == 1) and np.all(inputs[:, :-1, K] == 0)  # query only at step T
    assert np.all(inputs[:, 1:T].sum(-1) == 1)  # distractors
    np.testing.assert_array_equal(mask[0], np.eye(T + 1)[-1])
    # Uniform first token: the optimal memoryless score is its entropy, ln K
    # (50 000 samples: plug-in entropy within 2e-3 of ln 5).
    p = np.bincount(first, minlength=K) / len(first)
    assert -np.sum(p * np.log(p)) == pytest.approx(math.log(K), abs=2e-3)
    assert task.baseline() == {"loss": math.log(K), "accuracy": 1 / K}
    quiet = tasks.create("delayed_recall", length=T, num_symbols=K, distractors=False)
    x, _, _ = quiet.batch(KEY, 8)
    assert np.all(np.asarray(x)[:, 1:T] == 0)


def test_digits_split_permutation_and_baseline():
    from sklearn.datasets import load_digits

    plain = tasks.create("digits", length=64)
    train_x, train_y, test_x, test_y = plain.data()
    assert len(train_y) + len(test_y) == 1797 and len(test_y) == round(0.2 * 1797)
    data = load_digits()
    # Every held-out image is one of the data set's images, read in raster order, scaled to [0, 1].
    np.testing.assert_array_equal(test_x[0], data.data[np.all(data.data / 16 == test_x[0], axis=1)][0] / 16)
    inputs, targets, mask = plain.eval_batch(KEY, 1)
    assert inputs.shape == (len(test_y), 64, 1)
    np.testing.assert_array_equal(np.asarray(targets[:, -1]), test_y)
    np.testing.assert_array_equal(np.asarray(inputs[..., 0]), test_x)

    permuted = tasks.create("digits", length=64, permuted=True, permutation_seed=3)
    ptrain_x, ptrain_y, ptest_x, _ = permuted.data()
    perm = np.random.default_rng(3).permutation(64)
    np.testing.assert_array_equal(ptest_x, test_x[:, perm])
    np.testing.assert_array_equal(ptrain_y, train_y)

    # The prior predictor scores the closed-form baseline exactly.
    prior = np.bincount(train_y, minlength=10) / len(train_y)
    outputs = jnp.broadcast_to(jnp.log(jnp.asarray(prior, jnp.float32)), targets.shape + (10,))
    base = plain.baseline()
    assert float(plain.loss(outputs, targets, mask)) == pytest.approx(base["loss"], rel=1e-5)
    assert float(plain.metrics(outputs, targets, mask)["accuracy"]) == pytest.approx(base["accuracy"], rel=1e-6)
    assert 0.05 < base["accuracy"] < 0.15


@pytest.mark.parametrize(
    "name, kwargs, match",
    [
        # every registered task is listed (sorted), the four shipped first ones among them
        ("nope", {}, r"task.name='nope' is unknown; valid choices: \['adding', .*'copy', 'delayed_recall', 'digits'.*\]"),
        ("adding", {"length": 1}, r"task.length=1 is invalid: it must be an integer >= 2"),
        ("copy", {"length": 0}, r"task.length=0 is invalid"),
        ("delayed_recall", {"length": 5, "num_symbols": 1}, r"task.options.num_symbols=1"),
        ("digits", {"length": 32}, r"task.length=32 is invalid for digits"),
        ("adding", {"lenght": 5}, r"unknown option 'lenght' for task 'adding'; valid options: \['length'\]"),
    ],
)
def test_bad_task_inputs(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        tasks.create(name, **kwargs)
