"""Faults that must leave a workdir healthy: damaged checkpoints, a second run, deleted
logs, divergence, a full disk, and a run that is blocked when it is told to stop.

In-process where the behaviour is the library's (`train_and_evaluate` on the tiny RNN
of ``tests/train_helpers.py``); in subprocesses where it is the command line's (exit
codes, one-line messages, signals). Faults that need the run to misbehave (a full
disk, a dispatch that never returns) are injected by a small driver that patches one
function and then runs ``scripts/train.py`` as ``__main__``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from seqgrad import train
from seqgrad.train import runlog, workdir
from tests import train_helpers as th

th.use_compilation_cache()

# Runs scripts/train.py after applying a fault given as argv[1]:
#   "enospc:<step>"  checkpoint saves from <step> on raise OSError(ENOSPC)
#   "block:<n>"      the n-th dispatch never returns (after announcing itself on stdout)
#   "slow_eval:<s>"  the final evaluation announces itself on stdout, then takes <s> seconds longer
#   "slow_restore:<s>" restoring announces itself on stdout, then takes <s> seconds longer
_DRIVER = """
import errno, os, runpy, sys, threading
fault, arg = sys.argv.pop(1).split(":")
from seqgrad.train import checkpoint, state
if fault == "enospc":
    save = checkpoint.Checkpointer.save
    def full(self, step, s):
        if step >= int(arg):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.path.join(self.directory, str(step)))
        return save(self, step, s)
    checkpoint.Checkpointer.save = full
if fault == "block":
    chunk, calls = state.Trainer.train_chunk, []
    def blocked(self, s, n):
        calls.append(n)
        if len(calls) >= int(arg):
            print("BLOCKED", flush=True)
            threading.Event().wait()
        return chunk(self, s, n)
    state.Trainer.train_chunk = blocked
if fault == "slow_eval":
    import time
    evaluate = state.Trainer.evaluate
    def slow(self, s):
        print("EVALUATING", flush=True)
        time.sleep(float(arg))
        return evaluate(self, s)
    state.Trainer.evaluate = slow
if fault == "slow_restore":
    import time
    latest = checkpoint.Checkpointer.latest
    def slow_latest(self, target):
        print("RESTORING", flush=True)
        time.sleep(float(arg))
        return latest(self, target)
    checkpoint.Checkpointer.latest = slow_latest
sys.argv[0] = os.path.join(os.getcwd(), "scripts", "train.py")
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _driver(fault, workdir_, *flags, wait=True):
    env = {**os.environ, **th.CACHE_ENV, "JAX_PLATFORMS": "cpu", "PYTHONPATH": th.ROOT}
    env.pop("XLA_FLAGS", None)
    cmd = [sys.executable, "-c", _DRIVER, fault, f"--config={th.ROOT}/experiments/adding.py:rnn",
           f"--workdir={workdir_}", *th.TINY_FLAGS, *flags]
    proc = subprocess.Popen(cmd, cwd=th.ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if wait:
        proc.out, proc.err = proc.communicate(timeout=300)
    return proc


def _steps(path):
    return sorted(int(s) for s in os.listdir(path / "checkpoints") if s.isdigit())


def _error_line(err):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err, err[-3000:]
    assert lines and lines[-1].startswith("error: "), err[-3000:]
    return lines[-1]


# --------------------------------------------------------------------------- damaged checkpoints


@pytest.mark.parametrize(
    "damage",
    [pytest.param("truncated-data", marks=pytest.mark.slow), "garbage-manifest",
     pytest.param("no-metadata", marks=pytest.mark.slow), "empty-dir"],
)
def test_damaged_newest_checkpoint_is_moved_aside_after_the_fallback(tmp_path, damage, caplog):
    train.train_and_evaluate(th.tiny_config(**{"train.steps": 20}), str(tmp_path))
    assert _steps(tmp_path) == [10, 20]
    newest = tmp_path / "checkpoints" / "20"
    if damage == "empty-dir":
        newest = tmp_path / "checkpoints" / "30"
        newest.mkdir()
    elif damage == "truncated-data":
        for data in [*(newest / "default").glob("d/*"), *(newest / "default").glob("ocdbt.process_*/d/*")]:
            data.write_bytes(data.read_bytes()[: os.path.getsize(data) // 2])
    elif damage == "garbage-manifest":
        (newest / "default" / "manifest.ocdbt").write_bytes(b"\x00garbage" * 8)
    else:
        (newest / "default" / "_METADATA").unlink()
    resumed_from = 20 if damage == "empty-dir" else 10
    result = train.train_and_evaluate(th.tiny_config(**{"train.steps": 40}), str(tmp_path))
    assert result["step"] == 40
    moved = os.listdir(tmp_path / "corrupt")
    assert len(moved) == 1 and moved[0].startswith(newest.name + "-")
    assert any("moved to" in r.getMessage() and str(tmp_path / "corrupt") in r.getMessage() for r in caplog.records)
    rows = th.metrics_rows(tmp_path)
    assert [r["step"] for r in rows] == [10, 20, 30, 40]  # rows after the resumed step were retrained once
    assert _steps(tmp_path)[-1] == 40 and resumed_from in (10, 20)
    # The next rerun finds a healthy workdir: nothing to warn about, nothing moved.
    caplog.clear()
    train.train_and_evaluate(th.tiny_config(**{"train.steps": 40}), str(tmp_path))
    assert not [r for r in caplog.records if "cannot be restored" in r.getMessage() or "moved to" in r.getMessage()]
    assert len(os.listdir(tmp_path / "corrupt")) == 1


# --------------------------------------------------------------------------- one run per workdir


def test_second_run_on_a_locked_workdir_is_refused_with_the_holders_pid(tmp_path):
    path = workdir.prepare(str(tmp_path / "run"))
    with workdir.lock(path):
        with pytest.raises(train.TrainingError) as err:
            train.train_and_evaluate(th.tiny_config(), path)
        assert err.value.exit_code == 5 and f"process {os.getpid()}" in str(err.value)
        proc = th.run_script(path)
    line = _error_line(proc.err)
    assert proc.returncode == 5 and f"process {os.getpid()}" in line and path in line
    assert not os.path.exists(os.path.join(path, "checkpoints"))
    # Released: the same command now trains.
    assert train.train_and_evaluate(th.tiny_config(**{"train.steps": 10}), path)["step"] == 10


def test_metrics_file_deleted_during_a_run_is_recreated(tmp_path):
    log = runlog.JsonlLog(str(tmp_path / "metrics.jsonl"), 0)
    log.write({"step": 10, "loss": 1.0})
    os.unlink(tmp_path / "metrics.jsonl")
    log.write({"step": 20, "loss": 0.5})
    log.close()
    rows = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
    assert rows == [{"step": 20, "loss": 0.5}]


# --------------------------------------------------------------------------- divergence


def test_divergence_names_the_newest_checkpoint_on_disk_and_does_not_pin_the_config(tmp_path):
    # At once (lr 1e30, no clipping): no checkpoint exists, and none is named.
    exploding = {"optim.name": "sgd", "optim.learning_rate": 1e30, "optim.clip": "none"}
    with pytest.raises(train.Diverged, match="no checkpoint was saved before it") as err:
        train.train_and_evaluate(th.tiny_config(**exploding), str(tmp_path))
    assert err.value.step <= 10 and err.value.exit_code == 4
    assert not os.path.exists(tmp_path / "config.json")  # the corrected rerun is not refused
    sane = {**exploding, "optim.learning_rate": 1e-2, "train.steps": 20}
    assert train.train_and_evaluate(th.tiny_config(**sane), str(tmp_path))["step"] == 20
    # Later: the message names the newest checkpoint actually on disk.
    later = {**exploding, "optim.learning_rate": 1e30, "train.allow_config_change": True, "train.steps": 40}
    with pytest.raises(train.Diverged) as err:
        train.train_and_evaluate(th.tiny_config(**later), str(tmp_path))
    named = int(re.search(r"last good checkpoint at step (\d+) kept", str(err.value)).group(1))
    assert named == _steps(tmp_path)[-1] == 20 < err.value.step


@pytest.mark.slow
def test_nonfinite_result_exits_as_diverged(tmp_path):
    flags = ["--config.optim.name=sgd", "--config.optim.learning_rate=1e30", "--config.optim.clip=none",
             "--config.optim.skip_nonfinite=True"]
    proc = th.run_script(tmp_path, *flags)
    line = _error_line(proc.err)
    assert proc.returncode == 4 and "final evaluation is not finite" in line and "skipped" in line
    result = th.result(tmp_path)
    assert result["diverged"] is True and result["nonfinite_skipped"] > 0


@pytest.mark.slow
def test_override_that_changes_a_shape_is_one_line(tmp_path):
    assert th.run_script(tmp_path, "--config.train.steps=10").returncode == 0
    proc = th.run_script(tmp_path, "--config.model.hidden_size=16", "--override")
    line = _error_line(proc.err)
    assert proc.returncode == 2 and "can be restored" in line
    assert len([ln for ln in proc.err.splitlines() if ln.strip()]) <= 3, proc.err  # orbax warnings + the line


# --------------------------------------------------------------------------- full disk, blocked run


def test_full_disk_is_one_line_and_keeps_the_checkpoints(tmp_path):
    proc = _driver("enospc:20", tmp_path)
    line = _error_line(proc.err)
    assert proc.returncode == 3 and "no space left on device" in line, proc.err[-2000:]
    assert _steps(tmp_path) == [10]
    done = th.run_script(tmp_path)
    assert done.returncode == 0, done.err[-2000:]
    assert th.result(tmp_path)["step"] == 40


@pytest.mark.parametrize("how", ["second-signal", pytest.param("grace-period", marks=pytest.mark.slow)])
def test_blocked_run_stops_on_a_second_signal_or_after_the_grace_period(tmp_path, how):
    proc = _driver("block:2", tmp_path, "--config.train.interrupt_grace_s=3", wait=False)
    try:
        assert proc.stdout.readline().strip() == "BLOCKED"
        time.sleep(0.5)  # the checkpoint of step 10 is written asynchronously
        proc.send_signal(signal.SIGTERM)
        start = time.perf_counter()
        if how == "second-signal":
            time.sleep(0.5)
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        waited = time.perf_counter() - start
    finally:
        if proc.poll() is None:
            proc.kill()
    line = _error_line(err)
    expected = signal.SIGINT if how == "second-signal" else signal.SIGTERM
    assert proc.returncode == 128 + expected, err[-2000:]
    assert f"newest complete checkpoint: step 10 in {tmp_path}" in line
    assert ("received again" in line) if how == "second-signal" else ("within 3 s" in line and waited >= 2.9)
    assert _steps(tmp_path) == [10]
    done = th.run_script(tmp_path)  # nothing saved was lost: the rerun resumes and finishes
    assert done.returncode == 0 and th.result(tmp_path)["step"] == 40


def _sigterm_when(fault, workdir_, marker):
    """Runs the driver with ``fault``, sends SIGTERM once it prints ``marker``; returns
    the process and its last stderr line (which must be the one error line)."""
    proc = _driver(fault, workdir_, wait=False)
    try:
        assert proc.stdout.readline().strip() == marker
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    return proc, _error_line(err)


def test_sigterm_during_the_final_evaluation_ends_with_a_message_and_the_result(tmp_path):
    proc, line = _sigterm_when("slow_eval:3", tmp_path, "EVALUATING")
    assert "SIGTERM received during the final evaluation" in line and "result.json written at step 40" in line
    assert th.result(tmp_path)["step"] == 40 and _steps(tmp_path)[-1] == 40


def test_garbage_metrics_row_is_reported_and_skipped(tmp_path):
    assert th.run_script(tmp_path, "--config.train.steps=20").returncode == 0
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    (tmp_path / "metrics.jsonl").write_text(lines[0][: len(lines[0]) // 2] + "\n" + "\n".join(lines[1:]) + "\n")
    proc = th.run_script(tmp_path)  # resumes from step 20 to 40
    assert proc.returncode == 0, proc.err[-2000:]
    warned = [ln for ln in proc.err.splitlines() if "metrics.jsonl" in ln]
    assert len(warned) == 1 and "line(s) 1 are not JSON objects" in warned[0] and "skipped" in warned[0], proc.err
    assert [r["step"] for r in th.metrics_rows(tmp_path)] == [20, 30, 40]  # the rows after the bad one are kept


def test_written_files_honour_the_umask(tmp_path):
    previous = os.umask(0o027)  # inherited by the child
    try:
        proc = th.run_script(tmp_path, "--config.train.steps=10")
    finally:
        os.umask(previous)
    assert proc.returncode == 0, proc.err[-2000:]
    for name in ("config.json", "result.json", "checkpoints/10/sha256.json"):
        assert os.stat(tmp_path / name).st_mode & 0o777 == 0o640, name


def test_sigterm_while_restoring_ends_with_a_message_naming_the_checkpoint(tmp_path):
    assert th.run_script(tmp_path, "--config.train.steps=20").returncode == 0
    proc, line = _sigterm_when("slow_restore:5", tmp_path, "RESTORING")
    assert "SIGTERM received" in line and f"step 20 in {tmp_path / 'checkpoints'}" in line
    assert _steps(tmp_path) == [10, 20] and th.result(tmp_path)["step"] == 20
