"""`seqgrad.configkeys` (dotted keys), `seqgrad.checks` (value checks) and `seqgrad.modelspec`."""

from __future__ import annotations

import math

import ml_collections
import pytest

from seqgrad import checks, configkeys, modelspec


def locked():
    c = ml_collections.ConfigDict({"model": {"name": "lstm", "options": {"forget_bias": 1.0}}, "t": {"n": 1}})
    c.lock()
    return c


def test_get_set_has_flatten_and_overrides():
    c = locked()
    assert configkeys.get(c, "model.options.forget_bias") == 1.0
    assert configkeys.get(c, "model.nope", 7) == 7
    with pytest.raises(KeyError, match="config has no key 'model.nope'"):
        configkeys.get(c, "model.nope")
    assert configkeys.has(c, "t.n") and not configkeys.has(c, "t.m")
    configkeys.set(c, "t.n", 3)
    assert c.t.n == 3
    with pytest.raises(ValueError, match=r"cannot set config key 't.m' to 2"):
        configkeys.set(c, "t.m", 2)  # locked: no new leaves
    copy = configkeys.with_overrides(c, {"t.n": 5, "model.name": "gru"})
    assert (copy.t.n, copy.model.name, c.t.n, c.model.name) == (5, "gru", 3, "lstm")
    assert configkeys.flatten({"a": {"b": (1, 2)}, "c": 0}) == {"a.b": [1, 2], "c": 0}


@pytest.mark.parametrize("call, message", [
    (lambda: checks.positive_int("k", 0), "k=0 is invalid: it must be an integer >= 1"),
    (lambda: checks.positive_int("k", True), "k=True is invalid: it must be an integer >= 1"),
    (lambda: checks.positive("k", 0.0), "k=0.0 is invalid: it must be a number > 0"),
    (lambda: checks.positive("k", math.nan), "k=nan is invalid: it must be a finite number"),
    (lambda: checks.positive("k", math.inf, allow_zero=True), "k=inf is invalid: it must be a finite number"),
    (lambda: checks.fraction("k", 1.0), r"k=1.0 is invalid: it must lie in \[0, 1\)"),
    (lambda: checks.fraction("k", 5, closed=True), r"k=5 is invalid: it must lie in \[0, 1\]"),
    (lambda: checks.choice("k", "x", ("a", "b")), r"k='x' is unknown; valid choices: \['a', 'b'\]"),
])
def test_checks_refuse_with_one_line_naming_key_and_value(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_checks_accept_valid_values():
    checks.positive_int("k", 0, minimum=0)
    checks.positive("k", 0.0, allow_zero=True)
    checks.fraction("k", 1.0, closed=True)
    checks.fraction("k", 0.0)
    checks.choice("k", "a", ("a",))


def test_model_spec_accepts_name_or_its_alias_arch():
    assert modelspec.normalize({"arch": "gru"}).name == "gru"
    spec = modelspec.normalize({"name": "lstm", "arch": "lstm", "hidden_size": 8, "options": {"forget_bias": 2.0}})
    assert spec == modelspec.ModelSpec("lstm", 8, {"forget_bias": 2.0})
    with pytest.raises(ValueError, match=r"entries.x: name='lstm' and arch='gru' conflict"):
        modelspec.normalize({"name": "lstm", "arch": "gru"}, where="entries.x")
    with pytest.raises(ValueError, match=r"model.name='nope' is unknown; valid choices: \["):
        modelspec.normalize({"name": "nope"})


def test_options_of_another_architecture_are_dropped_unless_explicit():
    lstm_options = {"forget_bias": 1.0, "num_layers": 2}
    assert modelspec.for_model("gru", lstm_options) == {"num_layers": 2}
    assert modelspec.split_options("mingru", {"activation": "tanh"}) == ({}, {"activation": "tanh"})  # rnn's value
    assert modelspec.split_options("rnn", {"activation": "sigmoid"}) == ({"activation": "sigmoid"}, {})  # valid nowhere
    with pytest.raises(ValueError, match=r"forget_bias=1.0 was set, but architecture 'gru' takes no option"):
        modelspec.for_model("gru", lstm_options, explicit=["forget_bias"])
    with pytest.raises(ValueError, match=r"activation='tanh' is invalid for architecture 'mingru'"):
        modelspec.for_model("mingru", {"activation": "tanh"}, explicit={"activation": "tanh"})
