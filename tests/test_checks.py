"""`seqgrad.checks`: one validator for every number, and the boundaries that call it.

In-process for the validator itself and for every float option of every registered
architecture; subprocesses for the scripts (one line on stderr, exit 2, nothing
compiled), as in ``tests/test_cli_errors.py``.
"""

from __future__ import annotations

import math
import os

import ml_collections
import pytest

from seqgrad import checks, jsonio, models
from seqgrad.jobs import learnability
from tests import train_helpers as th
from tests.test_cli_errors import ADDING, FLOW, assert_one_line, run

BAD = (float("nan"), float("inf"), float("-inf"))
CURSE = os.path.join(th.ROOT, "experiments", "curse_of_memory.py")
LEARNED = os.path.join(th.ROOT, "experiments", "learned_gradient_flow.py")


@pytest.mark.parametrize(
    "valid,inside,outside",
    [
        (checks.Range(0.0, 1.0, low_open=True), [1e-300, 0.5, 1.0], [0.0, -1.0, 1.0000001]),
        (checks.Range(1.0, low_open=True), [1.0000001, 1e30], [1.0, 0.0]),
        (checks.Range(), [-1e30, 0.0, 1e30], []),
    ],
)
def test_number_accepts_its_interval_and_refuses_the_rest_and_nonfinite(valid, inside, outside):
    for value in inside:
        checks.number("k", value, valid)
    for value in [*outside, *BAD, True, "1", None]:
        with pytest.raises(ValueError, match=rf"^k={value!r} is invalid: it must be ") as err:
            checks.number("k", value, valid)
        assert str(valid) in str(err.value)


def test_all_finite_names_the_dotted_key_and_the_list_item():
    config = ml_collections.ConfigDict({"a": {"b": 1.0, "c": [1.0, 2.0]}, "s": "text", "n": None})
    checks.all_finite(config, "config")
    config.a.b = float("nan")
    with pytest.raises(ValueError, match=r"^config\.a\.b=nan is invalid"):
        checks.all_finite(config, "config")
    config.a.b, config.a.c = 1.0, [1.0, float("inf")]
    with pytest.raises(ValueError, match=r"^config\.a\.c=\[1\.0, inf\] is invalid: item 1 is inf"):
        checks.all_finite(config, "config")


def test_in_ranges_skips_absent_keys_and_checks_every_list_item():
    ranges = {"regime.preserved": checks.Range(0.0, 1.0, low_open=True), "x.y": checks.Range(0.0, low_open=True)}
    config = ml_collections.ConfigDict({"regime": {"preserved": 0.1}, "x": {"y": (1.0, 2.0)}})
    checks.in_ranges(config, ranges, "config")
    config.x.y = (1.0, 0.0)
    with pytest.raises(ValueError, match=r"^config\.x\.y\[1\]=0\.0 is invalid: it must be a finite number > 0"):
        checks.in_ranges(config, ranges, "config")


def _float_options():
    for name in models.available():
        for key, default in models.info(name).options.items():
            if isinstance(default, float):
                yield name, key


@pytest.mark.parametrize("name,key", list(_float_options()))
def test_every_float_option_of_every_architecture_refuses_nonfinite_values(name, key):
    default = models.info(name).options[key]
    models.catalog.validate_options(name, {"hidden_size": 8, key: default})
    for value in BAD:
        with pytest.raises(ValueError, match=rf"{key}={value!r} is invalid"):
            models.catalog.validate_options(name, {"hidden_size": 8, key: value})


@pytest.mark.parametrize("key,value", [("recurrent_scale", -1.0), ("positional_base", 1.0), ("max_phase", 0.0)])
def test_float_options_with_a_natural_range_refuse_values_outside_it(key, value):
    name = next(n for n in models.available() if key in models.info(n).options)
    with pytest.raises(ValueError, match=rf"^{key}={value!r} is invalid for '{name}': it must be a finite number"):
        models.catalog.validate_options(name, {"hidden_size": 8, key: value})


def test_learnability_refuses_bad_fractions_and_gradient_flow_files(tmp_path):
    for fraction in (-1.0, 0.0, 1.5, math.nan):
        with pytest.raises(ValueError, match="success_fraction=.* is invalid: it must be a finite number in"):
            learnability.summarize(str(tmp_path), success_fraction=fraction)
    with pytest.raises(ValueError, match="no such file"):
        learnability.summarize(str(tmp_path), gradient_flow_json=str(tmp_path / "absent.json"))
    jsonio.write_json(str(tmp_path / "other.json"), {"step": 3})
    with pytest.raises(ValueError, match="is not a gradient_flow.json"):
        learnability.summarize(str(tmp_path), gradient_flow_json=str(tmp_path / "other.json"))


# ------------------------------------------------------------------ the scripts: one line, exit 2


@pytest.mark.parametrize(
    "script,args,words",
    [
        pytest.param("train.py", [f"--config={ADDING}:lstm", "--config.model.options.forget_bias=nan"],
                     ["model.options.forget_bias=nan", "finite"], id="forget-bias-nan"),
        pytest.param("train.py", [f"--config={ADDING}:rnn", "--config.model.options.recurrent_scale=inf"],
                     ["model.options.recurrent_scale=inf", ">= 0"], id="recurrent-scale-inf",
                     marks=pytest.mark.slow),
        pytest.param("analyze.py", [f"--config={FLOW}:rnn", "--config.regime.preserved=nan"],
                     ["config.regime.preserved=nan", "(0, 1]"], id="regime-preserved-nan"),
        pytest.param("analyze.py", [f"--config={FLOW}:rnn", "--config.conditions.input_scale=(1e400,)"],
                     ["config.conditions.input_scale=[inf]", "finite"], id="input-scale-1e400",
                     marks=pytest.mark.slow),
        pytest.param("curse_of_memory.py", [f"--config={CURSE}:quick", "--config.fit_from=nan"],
                     ["fit_from=nan", "(0, 1)"], id="curse-fit-from-nan", marks=pytest.mark.slow),
        pytest.param("learned_gradient_flow.py", [f"--config={LEARNED}:quick",
                                                  "--config.train_configs.lstm.optim.learning_rate=inf"],
                     ["train_configs.lstm.optim.learning_rate=inf", "finite"], id="learned-lr-inf",
                     marks=pytest.mark.slow),
        pytest.param("learnability.py", ["--success_fraction=-1"], ["success_fraction=-1.0", "(0, 1]"],
                     id="success-fraction-negative", marks=pytest.mark.slow),
        pytest.param("learnability.py", ["--gradient_flow=/nonexistent/gradient_flow.json"],
                     ["/nonexistent/gradient_flow.json", "no such file"], id="gradient-flow-missing"),
    ],
)
def test_scripts_refuse_bad_numbers_in_one_line(tmp_path, script, args, words):
    extra = th.TINY_FLAGS if script == "train.py" else []
    proc = run(script, *args, f"--workdir={tmp_path / 'out'}", *extra)
    assert_one_line(proc, 2, *words)
    assert not os.path.exists(tmp_path / "out" / "checkpoints")


def test_empty_sweep_is_refused(tmp_path):
    experiment = tmp_path / "empty.py"
    experiment.write_text(f"import importlib.util\nspec = importlib.util.spec_from_file_location('a', {ADDING!r})\n"
                          "adding = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(adding)\n"
                          "get_config = adding.get_config\n\ndef get_sweep(arg=None):\n    return []\n")
    proc = run("sweep.py", f"--config={experiment}:rnn", f"--workdir={tmp_path / 'sweep'}")
    assert_one_line(proc, 2, "get_sweep returned no points")
    assert not os.path.exists(tmp_path / "sweep" / "sweep.json")
