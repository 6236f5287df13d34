"""Shared by the training tests: a tiny config, the persistent compilation cache,
running `scripts/train.py` in a subprocess, and reading a run's outputs back."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile

import jax
import numpy as np

from seqgrad import configkeys
from seqgrad.train.checkpoint import Checkpointer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Compiling the training step dominates these tests on a shared 2-core CPU; identical
# programs (same config, other seeds or workdirs, other processes) reuse the cache.
CACHE = os.path.join(tempfile.gettempdir(), "seqgrad-test-jax-cache")
CACHE_ENV = {
    "JAX_COMPILATION_CACHE_DIR": CACHE,
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1",
}


def use_compilation_cache():
    jax.config.update("jax_compilation_cache_dir", CACHE)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


# The tiny run every training test uses; TINY_FLAGS is the same as command-line overrides.
TINY = {
    "model.hidden_size": 8,
    "task.length": 10,
    "train.steps": 40,
    "train.batch_size": 8,
    "train.steps_per_dispatch": 10,
    "train.progress": False,
    "optim.learning_rate": 1e-2,
    "optim.schedule": "constant",
    "checkpoint.every": 10,
    "checkpoint.keep": 3,
    "eval.batch_size": 32,
    "eval.num_batches": 2,
    "snapshot.every": 0,
}
TINY_FLAGS = [f"--config.{k}={v}" for k, v in TINY.items()]


def experiment(name, arg):
    """``get_config(arg)`` of ``experiments/<name>.py``."""
    spec = importlib.util.spec_from_file_location(f"experiment_{name}", os.path.join(ROOT, "experiments", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(arg)


def tiny_config(model="rnn", **overrides):
    """``experiments/adding.py:<model>`` made tiny (T = 10, H = 8), with dotted-key overrides.

    Equal to what `run_script` passes on the command line."""
    c = experiment("adding", model)
    for key, value in {**TINY, **overrides}.items():
        configkeys.set(c, key, value)
    return c


def run_script(workdir, *flags, model="rnn", wait=True, **popen):
    """``scripts/train.py`` with the tiny config; returns the `Popen` (waited for if ``wait``)."""
    cmd = [
        sys.executable,
        os.path.join(ROOT, "scripts", "train.py"),
        f"--config={os.path.join(ROOT, 'experiments', 'adding.py')}:{model}",
        f"--workdir={workdir}",
        *TINY_FLAGS,
        *flags,
    ]
    env = {**os.environ, **CACHE_ENV, "JAX_PLATFORMS": "cpu", "PYTHONPATH": ROOT}
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
    if wait:
        proc.out, proc.err = proc.communicate(timeout=300)
    return proc


def metrics_rows(workdir):
    """The metrics rows without their wall-clock fields."""
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    for row in rows:
        row.pop("steps_per_s", None)
    return rows


def result(workdir):
    with open(os.path.join(workdir, "result.json")) as f:
        return json.load(f)


def final_state(workdir, trainer):
    """``(step, state)`` of the newest checkpoint, as numpy."""
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), keep=3)
    try:
        step, state = ckpt.latest(trainer.abstract_state())
    finally:
        ckpt.close()
    return step, jax.tree.map(np.asarray, state)


def assert_trees_equal(a, b):
    """Bit-identical pytrees."""
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
