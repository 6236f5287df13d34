"""Every bad input to the three scripts: one line on stderr, before compiling, with its exit code.

Each case runs the script in a subprocess (the behaviour is the command line's) and
checks: the documented exit code (`seqgrad.train.errors`: 2 usage or config, 3 I/O),
exactly one line on stderr, starting with ``error:``, no traceback, and the words
that make it actionable (the key, the value, what is valid). Failing before
compiling is checked by time: these runs end in a few seconds, where compiling the
tiny model alone takes longer, and they leave no checkpoint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests import train_helpers as th

ADDING = os.path.join(th.ROOT, "experiments", "adding.py")
SWEEP = os.path.join(th.ROOT, "experiments", "clipping_ablation.py")
FLOW = os.path.join(th.ROOT, "experiments", "gradient_flow.py")


def run(script, *args, timeout=120):
    env = {**os.environ, **th.CACHE_ENV, "JAX_PLATFORMS": "cpu", "PYTHONPATH": th.ROOT}
    env.pop("XLA_FLAGS", None)
    cmd = [sys.executable, os.path.join(th.ROOT, "scripts", script), *args]
    return subprocess.run(cmd, cwd=th.ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def assert_one_line(proc, code, *words):
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == code, proc.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


# (id, extra arguments of scripts/train.py, exit code, words the line must contain)
TRAIN_CASES = [
    ("unknown-key", ["--config.train.stepz=1"], 2, ["train.stepz", "did you mean train.steps", "valid keys of train"]),
    ("unknown-option", ["--config.model.options.foo=1"], 2, ["model.options.foo", "valid keys of model.options"]),
    ("unknown-variant", [f"--config={ADDING}:foo"], 2, ["'foo'", "valid choices", "'lstm'"]),
    ("missing-config", [f"--config={th.ROOT}/experiments/nope.py"], 2, ["nope.py", "No such file"]),
    ("positional", ["stray"], 2, ["unexpected argument", "stray"]),
    ("lr-nan", ["--config.optim.learning_rate=nan"], 2, ["optim.learning_rate=nan", "finite"]),
    ("lr-inf", ["--config.optim.learning_rate=inf"], 2, ["optim.learning_rate=inf", "finite"]),
    ("end-lr", ["--config.optim.end_lr_fraction=5"], 2, ["optim.end_lr_fraction=5", "[0, 1]"]),
    ("steps-negative", ["--config.train.steps=-3"], 2, ["train.steps=-3", ">= 1"]),
    ("not-an-int", ["--config.train.steps=abc"], 2, ["config.train.steps=abc", "int"]),
    ("bad-choice", ["--config.optim.name=adamm"], 2, ["optim.name='adamm'", "'adam'"]),
    ("grace-negative", ["--config.train.interrupt_grace_s=-1"], 2, ["train.interrupt_grace_s=-1"]),
    ("num-processes-alone", ["--num_processes=2"], 2, ["coordinator_address", "process_id", "missing"]),
    ("coordinator-no-port", ["--coordinator_address=localhost", "--num_processes=2", "--process_id=0"], 2,
     ["coordinator_address='localhost'", "HOST:PORT"]),
    ("coordinator-unknown-host", ["--coordinator_address=no-such-host.invalid:1234", "--num_processes=2",
                                  "--process_id=0"], 2, ["no-such-host.invalid", "cannot be resolved"]),
    ("process-id", ["--coordinator_address=127.0.0.1:1234", "--num_processes=2", "--process_id=5"], 2,
     ["process_id=5", "[0, num_processes=2)"]),
]
FAST = {"unknown-key", "positional", "lr-nan", "process-id"}


@pytest.mark.parametrize(
    "args,code,words",
    [pytest.param(a, c, w, id=i, marks=() if i in FAST else pytest.mark.slow) for i, a, c, w in TRAIN_CASES],
)
def test_train_bad_input(tmp_path, args, code, words):
    config = [a for a in args if a.startswith("--config=")] or [f"--config={ADDING}:rnn"]
    rest = [a for a in args if not a.startswith("--config=")]
    proc = run("train.py", *config, f"--workdir={tmp_path / 'run'}", *th.TINY_FLAGS, *rest)
    assert_one_line(proc, code, *words)
    assert not os.path.exists(tmp_path / "run" / "checkpoints")
    assert not os.path.exists(tmp_path / "run" / "config.json")


def test_train_workdir_that_is_a_file_or_below_one(tmp_path):
    afile = tmp_path / "file"
    afile.write_text("x")
    for workdir, words in ((afile, ["is a file"]), (afile / "sub", ["lies below", str(afile)])):
        proc = run("train.py", f"--config={ADDING}:rnn", f"--workdir={workdir}", *th.TINY_FLAGS)
        assert_one_line(proc, 3, str(afile), *words)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_train_read_only_workdir(tmp_path):
    tmp_path.chmod(0o500)
    try:
        proc = run("train.py", f"--config={ADDING}:rnn", f"--workdir={tmp_path / 'run'}", *th.TINY_FLAGS)
    finally:
        tmp_path.chmod(0o700)
    assert_one_line(proc, 3, "cannot be written", "Permission denied")


def test_sweep_bad_inputs_fail_before_any_point_runs(tmp_path):
    cases = [
        ([f"--config={SWEEP}:nope"], ["nope"]),
        ([f"--config={SWEEP}", "--config.train.stepz=1"], ["train.stepz", "did you mean train.steps"]),
        ([f"--config={SWEEP}", "--config.train.steps=-3"], ["train.steps=-3", "sweep point"]),
    ]
    for args, words in cases:
        proc = run("sweep.py", *args, f"--workdir={tmp_path / 'sweep'}")
        assert_one_line(proc, 2, *words)
        assert not os.path.exists(tmp_path / "sweep" / "sweep.json")


@pytest.mark.parametrize(
    "args,code,words",
    [
        pytest.param([f"--config={FLOW}:nope"], 2, ["'nope'", "valid entries"], id="unknown-entry"),
        pytest.param([f"--config={FLOW}:rnn", "--config.T=1"], 2, ["T=1"], id="T-1", marks=pytest.mark.slow),
        pytest.param([f"--config={FLOW}:rnn", "--config.T=0"], 2, ["T=0"], id="T-0", marks=pytest.mark.slow),
        pytest.param([f"--config={FLOW}:rnn", "--config.num_seeds=0"], 2, ["num_seeds=0"], id="seeds-0",
                     marks=pytest.mark.slow),
        pytest.param([f"--config={FLOW}:rnn", "--config.entries.rnn.site=bogus"], 2, ["site='bogus'", "valid sites"],
                     id="site", marks=pytest.mark.slow),
        pytest.param([f"--config={FLOW}:rnn", "--config.entries.rnn.arch=bogus"], 2, ["'bogus'", "valid choices"],
                     id="arch", marks=pytest.mark.slow),
    ],
)
def test_analyze_bad_input(tmp_path, args, code, words):
    proc = run("analyze.py", *args, f"--workdir={tmp_path / 'out'}")
    assert_one_line(proc, code, *words)


def test_analyze_workdir_that_is_a_file(tmp_path):
    afile = tmp_path / "file"
    afile.write_text("x")
    proc = run("analyze.py", f"--config={FLOW}:rnn", f"--workdir={afile}", timeout=60)
    assert_one_line(proc, 3, str(afile), "is a file")


CONFIG_FAULTS = {
    "syntax": ("def get_config(arg=None):\n    x = (\n", ["syntax.py:2", "SyntaxError", "never closed"]),
    "raises": ("def get_config(arg=None):\n    raise RuntimeError('no such dataset')\n\n\n"
               "def get_sweep(arg=None):\n    return [{}]\n", ["raises.py:2", "RuntimeError: no such dataset"]),
    "missing": (None, ["missing.py", "No such file"]),
}


@pytest.mark.parametrize("script", ["train.py", *(pytest.param(s, marks=pytest.mark.slow)
                                                  for s in ("analyze.py", "sweep.py", "curse_of_memory.py"))])
@pytest.mark.parametrize("fault", list(CONFIG_FAULTS))
def test_config_file_that_fails_to_load_is_one_line_naming_file_and_line(tmp_path, script, fault):
    text, words = CONFIG_FAULTS[fault]
    path = tmp_path / f"{fault}.py"
    if text is not None:
        path.write_text(text)
    proc = run(script, f"--config={path}", f"--workdir={tmp_path / 'out'}")
    assert_one_line(proc, 2, *words)


def test_list_valued_keys_are_overridable_from_the_command_line(tmp_path):
    curse = os.path.join(th.ROOT, "experiments", "curse_of_memory.py")
    proc = run("curse_of_memory.py", f"--config={curse}:quick", f"--workdir={tmp_path}", "--config.lambdas=(0.9, 0.99)",
               "--config.recurrences=('linear',)", "--config.length=50", "--config.num_sequences=8")
    assert proc.returncode == 0, proc.stderr[-3000:]
    saved = json.loads((tmp_path / "curse_of_memory.json").read_text())
    assert saved["config"]["lambdas"] == [0.9, 0.99] and list(saved["results"]) == ["linear"]


def test_options_of_an_import_string_architecture_are_refused_only_when_the_class_lacks_them(tmp_path):
    flax_cell = ["--config.model.name=flax:SimpleCell"]
    proc = run("train.py", f"--config={ADDING}:rnn", f"--workdir={tmp_path / 'bad'}", *th.TINY_FLAGS, *flax_cell,
               "--config.model.options.bogus=3")
    assert_one_line(proc, 2, "model.options.bogus=3", "'flax:SimpleCell'", "'residual'")


@pytest.mark.slow
def test_options_of_an_import_string_architecture_are_set_from_the_command_line(tmp_path):
    proc = run("train.py", f"--config={ADDING}:rnn", f"--workdir={tmp_path}", *th.TINY_FLAGS,
               "--config.train.steps=10", "--config.model.name=flax:SimpleCell", "--config.model.options.residual=True")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((tmp_path / "config.json").read_text())["model"]["options"]["residual"] is True
