"""selective_copy, associative_recall and mnist1d: layouts decoded by an independent
NumPy reading of the tokens, chance levels against their closed forms, and MNIST-1D
generated locally.

Sampling tolerances are stated per test (several standard errors).
"""

from __future__ import annotations

import math
import random

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import tasks

KEY = jax.random.key(0)


def test_selective_copy_layout_hand_checked():
    T, M, K = 10, 3, 5
    task = tasks.create("selective_copy", length=T, num_tokens=M, num_symbols=K)
    inputs, targets, mask = (np.asarray(a) for a in task.batch(KEY, 256))
    assert task.seq_len == T + M and task.input_dim == K + 2 and task.output_dim == K
    np.testing.assert_array_equal(inputs.sum(-1), 1.0)  # one-hot
    tokens = inputs.argmax(-1)
    content = tokens[:, :T]
    assert np.all(tokens[:, T:] == K + 1)  # the marker at every answer step
    assert np.all((content >= 0) & (content <= K))  # noise 0 or a symbol, never the marker
    for row in range(256):
        symbols = content[row][content[row] != 0]  # the data tokens, in order of position
        assert len(symbols) == M  # M distinct positions
        np.testing.assert_array_equal(targets[row, T:], symbols - 1)
    assert np.all(targets[:, :T] == 0)
    np.testing.assert_array_equal(mask, np.tile((np.arange(T + M) >= T).astype(np.float32), (256, 1)))


def test_selective_copy_explicit_example():
    # Tokens 0 (noise), 1..3 (symbols), 4 (marker); T = 5, M = 2.
    task = tasks.create("selective_copy", length=5, num_tokens=2, num_symbols=3)
    inputs, targets, mask = (np.asarray(a) for a in task.batch(KEY, 1))
    tokens = inputs.argmax(-1)[0]
    first, second = np.flatnonzero(tokens[:5])
    assert list(tokens[5:]) == [4, 4]
    assert list(targets[0]) == [0, 0, 0, 0, 0, tokens[first] - 1, tokens[second] - 1]
    assert list(mask[0]) == [0, 0, 0, 0, 0, 1, 1]


def _uniform_conditional(targets, context, num_classes, tol):
    """Each target's distribution given ``context`` (what a memoryless model sees) is uniform."""
    for c in np.unique(context):
        freq = np.bincount(targets[context == c], minlength=num_classes) / np.sum(context == c)
        np.testing.assert_allclose(freq, 1 / num_classes, atol=tol)


def test_selective_copy_chance_level():
    # A memoryless model sees only the marker and its step: at every answer step the
    # symbol is uniform over K, so the best it can do is the uniform guess, CE = ln K.
    # 40 000 samples per step: SE of a frequency 1.9e-3; tolerance 0.012 (≈ 6 SE).
    T, M, K = 8, 2, 4
    task = tasks.create("selective_copy", length=T, num_tokens=M, num_symbols=K)
    inputs, targets, mask = task.batch(KEY, 40_000)
    answers = np.asarray(targets)[:, T:]
    for i in range(M):
        _uniform_conditional(answers[:, i], np.zeros(len(answers)), K, 0.012)
    # Positions are a uniform M-subset: each content step holds a token with probability M/T.
    occupied = (np.asarray(inputs).argmax(-1)[:, :T] != 0).mean(axis=0)
    np.testing.assert_allclose(occupied, M / T, atol=0.012)
    uniform = jnp.zeros(targets.shape + (K,))
    assert float(task.loss(uniform, targets, mask)) == pytest.approx(math.log(K), rel=1e-6)
    assert task.baseline() == {"loss": math.log(K), "accuracy": 1 / K}


def test_associative_recall_layout_hand_checked():
    T, P, Q, Kk, Kv = 14, 3, 2, 5, 4
    task = tasks.create("associative_recall", length=T, num_pairs=P, num_queries=Q, num_keys=Kk, num_values=Kv)
    inputs, targets, mask = (np.asarray(a) for a in task.batch(KEY, 256))
    assert task.input_dim == 1 + Kk + Kv and task.output_dim == Kv
    np.testing.assert_array_equal(inputs.sum(-1), 1.0)
    tokens = inputs.argmax(-1)
    for row in range(256):
        keys, vals = tokens[row, 0 : 2 * P : 2], tokens[row, 1 : 2 * P : 2]
        assert np.all((keys >= 1) & (keys <= Kk)) and len(set(keys)) == P  # distinct keys
        assert np.all((vals > Kk) & (vals <= Kk + Kv))
        assert np.all(tokens[row, 2 * P : T - Q] == 0)  # blanks
        queries = tokens[row, T - Q :]
        assert len(set(queries)) == Q and set(queries) <= set(keys)
        table = dict(zip(keys, vals - 1 - Kk))  # key token -> value class
        np.testing.assert_array_equal(targets[row, T - Q :], [table[q] for q in queries])
    assert np.all(targets[:, : T - Q] == 0)
    np.testing.assert_array_equal(mask, np.tile((np.arange(T) >= T - Q).astype(np.float32), (256, 1)))


def test_associative_recall_chance_level():
    # Without the context, a model sees the query key and its step; the value is
    # independent of both, so the uniform guess (CE = ln K_v) is the best.
    # ~13 000 samples per (step, key): SE of a frequency 3.8e-3; tolerance 0.02 (≈ 5 SE).
    T, P, Q, Kk, Kv = 10, 3, 2, 3, 4
    task = tasks.create("associative_recall", length=T, num_pairs=P, num_queries=Q, num_keys=Kk, num_values=Kv)
    inputs, targets, mask = task.batch(KEY, 40_000)
    tokens = np.asarray(inputs).argmax(-1)
    for i in range(T - Q, T):
        _uniform_conditional(np.asarray(targets)[:, i], tokens[:, i], Kv, 0.02)
    uniform = jnp.zeros(targets.shape + (Kv,))
    assert float(task.loss(uniform, targets, mask)) == pytest.approx(math.log(Kv), rel=1e-6)
    assert task.baseline() == {"loss": math.log(Kv), "accuracy": 1 / Kv}


def test_mnist1d_generated_locally_and_shuffled(monkeypatch):
    import requests

    def no_network(*args, **kwargs):
        raise AssertionError("mnist1d must be generated locally, not downloaded")

    monkeypatch.setattr(requests, "get", no_network)
    np.random.seed(123)
    random.seed(123)
    np_before, py_before = np.random.get_state()[1].copy(), random.getstate()
    plain = tasks.create("mnist1d", length=40)
    train_x, train_y, test_x, test_y = plain.data()
    # make_dataset reseeds the global generators; the task restores them.
    np.testing.assert_array_equal(np.random.get_state()[1], np_before)
    assert random.getstate() == py_before
    assert train_x.shape == (4000, 40) and test_x.shape == (1000, 40) and train_y.shape == (4000,)
    assert set(np.unique(train_y)) == set(range(10))
    all_x = np.concatenate([train_x, test_x])
    assert abs(all_x.mean()) < 1e-4 and abs(all_x.std() - 1) < 1e-4  # the package standardises
    # Shuffled: the same sequences with one fixed permutation of the 40 positions.
    shuffled = tasks.create("mnist1d", length=40, shuffled=True).data()
    np.testing.assert_array_equal(shuffled[1], train_y)
    match = [int(np.argmin(np.abs(train_x - shuffled[0][:, [j]]).sum(0))) for j in range(40)]
    assert sorted(match) == list(range(40)) and match != list(range(40))
    np.testing.assert_allclose(shuffled[0], train_x[:, match], atol=1e-5)
    # Evaluation reads the whole held-out split; the label sits at the last step.
    inputs, targets, mask = plain.eval_batch(KEY, 7)
    assert inputs.shape == (1000, 40, 1)
    np.testing.assert_array_equal(np.asarray(targets)[:, -1], test_y)
    assert float(mask.sum()) == 1000.0
    # Chance level: the training prior scored on the held-out split.
    prior = np.bincount(train_y, minlength=10) / 4000
    freq = np.bincount(test_y, minlength=10) / 1000
    logits = jnp.broadcast_to(jnp.log(jnp.asarray(prior, jnp.float32)), (1000, 40, 10))
    assert float(plain.loss(logits, targets, mask)) == pytest.approx(plain.baseline()["loss"], rel=1e-5)
    assert plain.baseline()["accuracy"] == pytest.approx(freq[np.argmax(prior)])


@pytest.mark.parametrize(
    "name, kwargs, match",
    [
        ("selective_copy", {"length": 3, "num_tokens": 4}, "task.length=3"),
        ("selective_copy", {"num_symbols": 1}, "task.options.num_symbols=1"),
        ("associative_recall", {"num_queries": 5, "num_pairs": 4}, "task.options.num_queries=5"),
        ("associative_recall", {"num_keys": 2, "num_pairs": 4}, "task.options.num_keys=2"),
        ("associative_recall", {"length": 10}, "task.length=10"),
        ("mnist1d", {"length": 41}, "task.length=41"),
        ("mnist1d", {"shuffled": "yes"}, "task.options.shuffled='yes'"),
    ],
)
def test_bad_task_inputs(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        tasks.create(name, **kwargs)
