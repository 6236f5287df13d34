"""Checkpoints: the orbax round trip, partial and damaged checkpoints, and runs
stopped by SIGTERM, by SIGKILL mid-way and by SIGKILL during a checkpoint write,
each resumed by rerunning the same command to the same bits as a run never stopped.

The stopped runs are `scripts/train.py` subprocesses; the reference is the same
config trained in this process (bit-identical on the CPU).
"""

from __future__ import annotations

import os
import shutil
import signal
import time

import jax
import jax.numpy as jnp
import optax
import pytest

from seqgrad import train
from seqgrad.train import optim
from seqgrad.train.checkpoint import Checkpointer
from seqgrad.train.state import Trainer
from tests import train_helpers as th

th.use_compilation_cache()

STEPS = 200  # 20 chunks of 10 steps, a checkpoint after each


def _state(value=1.0):
    c = train.base_config().optim
    c.skip_nonfinite = True
    tx = optim.make_optimizer(c, 10)
    params = {"w": jnp.full((3, 2), value), "b": jnp.zeros(2)}
    return {
        "step": jnp.array([int(value)], jnp.int32),
        "key": jax.random.key_data(jax.random.key(7))[None],
        "params": params,
        "opt_state": tx.init(params),
    }


def test_round_trip_keeps_structure_and_bits(tmp_path):
    ckpt = Checkpointer(str(tmp_path), keep=2)
    state = _state(3.0)
    ckpt.save(3, state)
    ckpt.wait()
    step, restored = ckpt.latest(state)
    ckpt.close()
    assert step == 3
    th.assert_trees_equal(restored, state)
    assert isinstance(restored["opt_state"], optax.ApplyIfFiniteState)


def test_keeps_the_last_few_and_ignores_partial_or_damaged_ones(tmp_path):
    ckpt = Checkpointer(str(tmp_path), keep=2)
    for s in (1.0, 2.0, 3.0):
        ckpt.save(int(s), _state(s))
    ckpt.close()
    assert sorted(os.listdir(tmp_path)) == ["2", "3"]
    # A write interrupted at step 4 leaves orbax's temporary directory: it is not a checkpoint.
    shutil.copytree(tmp_path / "3", tmp_path / "4.orbax-checkpoint-tmp")
    # The newest complete-looking checkpoint is damaged: restore falls back to step 2.
    for root, _, files in os.walk(tmp_path / "3"):
        for name in files:
            if "manifest" in name or name.endswith(".zarray") or "d" == os.path.basename(root):
                with open(os.path.join(root, name), "wb") as f:
                    f.write(b"\0")
    ckpt = Checkpointer(str(tmp_path), keep=2)
    assert 4 not in ckpt.steps()
    step, restored = ckpt.latest(_state())
    ckpt.close()
    assert step == 2
    th.assert_trees_equal(restored, _state(2.0))


def test_step_counter_must_match_the_checkpoint(tmp_path):
    ckpt = Checkpointer(str(tmp_path), keep=2)
    ckpt.save(5, _state(4.0))  # state of step 4 filed as step 5: an off-by-one
    ckpt.wait()
    with pytest.raises(ValueError, match="checkpoint 5 holds step counter"):
        ckpt.restore(5, _state())
    ckpt.close()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run, trained in this process."""
    workdir = tmp_path_factory.mktemp("reference")
    config = th.tiny_config(**{"train.steps": STEPS})
    train.train_and_evaluate(config, str(workdir))
    return workdir, th.final_state(workdir, Trainer(config))


def _assert_same_as_reference(workdir, reference):
    ref_dir, (ref_step, ref_state) = reference
    step, state = th.final_state(workdir, Trainer(th.tiny_config(**{"train.steps": STEPS})))
    assert step == ref_step == STEPS
    th.assert_trees_equal(state, ref_state)
    assert th.result(workdir)["eval"] == th.result(ref_dir)["eval"]
    assert th.metrics_rows(workdir) == th.metrics_rows(ref_dir)


def _wait_for(predicate, proc, timeout=240):
    start = time.time()
    while not predicate():
        assert proc.poll() is None, f"the run ended before the signal: {proc.communicate()}"
        assert time.time() - start < timeout
        time.sleep(0.005)


def _rows(workdir):
    path = os.path.join(workdir, "metrics.jsonl")
    return open(path).read().count("\n") if os.path.exists(path) else 0


def test_sigterm_saves_a_checkpoint_and_the_rerun_matches(tmp_path, reference):
    # No scheduled checkpoint before the last step: any checkpoint below STEPS is the SIGTERM's own (with one
    # every 100 steps, a stop that lands on step 100 could not tell the two apart).
    flags = [f"--config.train.steps={STEPS}", f"--config.checkpoint.every={10 * STEPS}"]
    proc = th.run_script(tmp_path, *flags, wait=False)
    _wait_for(lambda: _rows(tmp_path) >= 3, proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "SIGTERM received: checkpoint saved at step" in err
    saved = [int(s) for s in os.listdir(tmp_path / "checkpoints") if s.isdigit()]
    assert len(saved) == 1 and 30 <= saved[0] < STEPS
    assert f"checkpoint saved at step {saved[0]} " in err
    done = th.run_script(tmp_path, *flags)
    assert done.returncode == 0, done.err
    _assert_same_as_reference(tmp_path, reference)


def test_sigkill_midway_and_during_a_checkpoint_write_then_resume(tmp_path, reference):
    flags = [f"--config.train.steps={STEPS}"]
    # 1. Killed at an arbitrary moment after a few chunks.
    proc = th.run_script(tmp_path, *flags, wait=False)
    _wait_for(lambda: _rows(tmp_path) >= 4, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    # 2. Killed while orbax writes a checkpoint (its temporary directory exists).
    proc = th.run_script(tmp_path, *flags, wait=False)
    checkpoints = tmp_path / "checkpoints"

    def writing():
        try:
            return any("tmp" in name for name in os.listdir(checkpoints))
        except FileNotFoundError:
            return False

    seen = [name for name in os.listdir(checkpoints) if name.isdigit()]
    _wait_for(lambda: writing() and _rows(tmp_path) > _rows_at(seen), proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert any("tmp" in name for name in os.listdir(checkpoints)), "no write was interrupted"
    # 3. The rerun cleans up, resumes from the last complete checkpoint and finishes.
    done = th.run_script(tmp_path, *flags)
    assert done.returncode == 0, done.err
    assert not any("tmp" in name for name in os.listdir(checkpoints))
    _assert_same_as_reference(tmp_path, reference)


def _rows_at(steps):
    return len(steps) and max(int(s) for s in steps) // 10
