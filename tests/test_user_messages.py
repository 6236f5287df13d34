"""What a user reads: required options print as ``REQUIRED``, and seqgrad's warnings under the scripts
are plain ``seqgrad: warning: ...`` lines, not absl's log format."""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import pickle
import re
import subprocess
import sys

from seqgrad import models
from seqgrad.models.registry import REQUIRED
from seqgrad.report import progress
from seqgrad.train import config as cfg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def needs_leak(in_features: int, hidden_features: int, *, leak: float, rngs=None):
    """An NNX cell factory with an option of its own and no default (never built here)."""
    raise AssertionError("not built")


def test_required_options_print_readably_and_keep_their_keys():
    arch = models.info("lstm")
    fields = [f.name for f in dataclasses.fields(arch.module) if f.init and f.name not in ("parent", "name")]
    assert list(arch.options) == fields
    assert arch.options["hidden_size"] is REQUIRED and arch.required_options == ("hidden_size",)
    text = repr(arch.options)
    assert "'hidden_size': REQUIRED" in text and "MISSING" not in text and "object at" not in text
    assert copy.deepcopy(REQUIRED) is REQUIRED and pickle.loads(pickle.dumps(REQUIRED)) is REQUIRED
    assert models.info("flax:GRUCell").options["hidden_size"] is REQUIRED


def test_an_imported_cells_required_option_is_listed_and_left_to_the_user():
    name = "nnx:tests.test_user_messages:needs_leak"
    arch = models.info(name)
    assert arch.required_options == ("hidden_size", "leak") and arch.options["unroll"] == 1
    config = cfg.set_model(cfg.base_config(), name)
    assert dict(config.model.options) == {"unroll": 1}  # no placeholder for the option it has no value of
    assert dict(cfg.set_model(cfg.base_config(), name, leak=0.3).model.options) == {"unroll": 1, "leak": 0.3}


def test_plain_messages_turn_seqgrad_records_into_one_plain_line(capsys):
    logger = logging.getLogger("seqgrad")
    handlers, propagate = list(logger.handlers), logger.propagate
    try:
        progress.plain_messages()
        progress.plain_messages()  # once is enough: no second line per record
        assert sum(isinstance(h, progress.PlainLines) for h in logger.handlers) == 1 and not logger.propagate
        logging.getLogger("seqgrad.modelspec").warning("model.options: %s takes no option %s", "gru", "forget_bias")
        assert capsys.readouterr().err == "seqgrad: warning: model.options: gru takes no option forget_bias\n"
    finally:
        logger.handlers[:], logger.propagate = handlers, propagate


def test_a_dropped_option_warns_in_one_plain_line_under_the_train_script(tmp_path):
    """An LSTM experiment switched to a GRU drops the LSTM's forget_bias, saying so in one plain line."""
    flags = {"model.name": "gru", "model.hidden_size": 4, "task.length": 5, "train.steps": 2, "train.batch_size": 4,
             "train.steps_per_dispatch": 2, "train.progress": False, "checkpoint.every": 2, "eval.batch_size": 8,
             "eval.num_batches": 1}
    cmd = [sys.executable, os.path.join(ROOT, "scripts", "train.py"),
           f"--config={os.path.join(ROOT, 'experiments', 'adding.py')}:lstm", f"--workdir={tmp_path}",
           *(f"--config.{k}={v}" for k, v in flags.items())]
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": ROOT}
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    warned = [line for line in proc.stderr.splitlines() if "forget_bias" in line]
    assert warned == ["seqgrad: warning: model.options: architecture 'gru' takes no option forget_bias=1.0; "
                      "dropped (left over from another architecture)"], proc.stderr
    assert not re.search(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ .*modelspec\.py:\d+\]", proc.stderr, re.M), proc.stderr
