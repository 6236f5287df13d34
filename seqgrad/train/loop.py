"""`train_and_evaluate(config, workdir)`: the whole run, resumable and interruptible.

Data flow: config → (task, model, optax chain) → state of R replicas → chunks of
``train.steps_per_dispatch`` jitted steps → metrics, checkpoints, snapshots →
final evaluation → ``result.json``.

Workdir layout::

    config.json      the config of the run (a rerun with another config is refused)
    checkpoints/     orbax steps: the state after N updates is step N
    metrics.jsonl    one row per chunk
    tb/              one TensorBoard event file (train/<metric>, eval/<metric>); a resume appends to it
    gradflow.jsonl   gradient-flow snapshots (norm vs distance), plotted to gradflow.png
    result.json      the final evaluation, beside the task's chance level

Running the same command again resumes from the newest complete checkpoint;
SIGTERM and Ctrl-C save a checkpoint at the end of the current chunk and raise
`Interrupted`; non-finite loss or gradients without ``optim.skip_nonfinite``
raise `Diverged` naming the step, leaving the last good checkpoint intact.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from typing import Any

import jax
import numpy as np

from seqgrad import jsonio

from seqgrad.train import resources
from seqgrad.report.progress import Progress
from seqgrad.report.training import plot_snapshots
from seqgrad.train import config as config_lib
from seqgrad.train import distributed, interrupt
from seqgrad.train import workdir as workdir_lib
from seqgrad.train.checkpoint import Checkpointer, complete_steps, damage
from seqgrad.train.errors import ConfigMismatch, Diverged, Interrupted
from seqgrad.train.runlog import JsonlLog, TensorBoard
from seqgrad.train.state import Trainer
from seqgrad.train import results, validation

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- helpers


def check_workdir_config(config, workdir: str) -> None:
    """Refuses a workdir whose saved config differs (other than `RESUMABLE_CHANGES`)."""
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        return
    with open(path) as f:
        saved = config_lib.flatten(json.load(f))
    diff = config_lib.differences(saved, config)
    if diff and not config.train.allow_config_change:
        raise ConfigMismatch(
            f"workdir {workdir} holds a run with another config; differing keys:\n  "
            + "\n  ".join(diff)
            + "\nUse another --workdir, or pass --override (train.allow_config_change=True) to resume anyway."
        )


def _next_boundary(step: int, config) -> int:
    """End of the chunk starting at ``step``: the next multiple of the dispatch,
    checkpoint and snapshot periods, or the last step."""
    periods = [config.train.steps_per_dispatch, config.checkpoint.every]
    if config.snapshot.every:
        periods.append(config.snapshot.every)
    return min([config.train.steps] + [(step // p + 1) * p for p in periods])


# --------------------------------------------------------------------------- the run


def train_and_evaluate(config, workdir: str) -> dict[str, Any]:
    """Trains (or resumes) the run of ``config`` in ``workdir`` and evaluates it.

    Returns:
      the content of ``result.json``: ``{"step", "eval", "baseline", "task",
      "model", ...}``; with several replicas ``"eval"`` holds medians and
      ``"replicas"`` the per-replica evaluations.

    Raises:
      ValueError: an invalid config, or one whose memory estimate exceeds the machine's
        (`seqgrad.train.resources`), before anything is compiled.
      ConfigMismatch: the workdir holds a run with another config.
      Diverged: non-finite loss or gradients without ``optim.skip_nonfinite``, or a
        final evaluation that is not finite (``result.json`` then says ``"diverged": true``).
      Interrupted: SIGTERM / SIGINT; a checkpoint was saved first.
      WorkdirError: the workdir cannot be created or written.
      WorkdirBusy: another run holds the workdir (`seqgrad.train.workdir.lock`).
    """
    validation.validate(config)
    resources.check_training(config)
    workdir = workdir_lib.prepare(workdir)
    main = distributed.is_main_process()
    with workdir_lib.lock(workdir, enabled=main):
        return _train(config, workdir, main)


def _saved(workdir: str) -> str:
    """The newest complete checkpoint whose files match their manifest (a step committed
    so recently that its manifest is not written yet counts: a rerun verifies it by
    restoring it), in words (reads files only)."""
    directory = os.path.join(workdir, "checkpoints")
    steps = [s for s in complete_steps(directory) if not damage(os.path.join(directory, str(s)))]
    return f"step {steps[-1]} in {directory}" if steps else f"none yet in {directory} (a rerun starts at step 0)"


class _Pin:
    """Writes ``config.json`` with the first checkpoint of this invocation: a run that failed before it (a
    layout error, divergence at once) does not pin the workdir."""

    def __init__(self, config, workdir: str, main: bool):
        self.config, self.path, self.main, self.done = config, os.path.join(workdir, "config.json"), main, False

    def __call__(self) -> None:
        if self.main and not self.done:
            jsonio.write_json(self.path, self.config.to_dict())
        self.done = True


class _Logs:
    """The main process's writers of one run: ``metrics.jsonl``, ``gradflow.jsonl`` (when snapshots are or
    were on), TensorBoard under ``tb/`` and the progress line; None on the other processes."""

    def __init__(self, config, workdir: str, step: int, main: bool):
        self.metrics = JsonlLog(os.path.join(workdir, "metrics.jsonl"), step) if main else None
        snapshot_path = os.path.join(workdir, "gradflow.jsonl")
        keep_snapshots = main and (config.snapshot.every or os.path.exists(snapshot_path))
        self.snapshots = JsonlLog(snapshot_path, step) if keep_snapshots else None
        self.board = TensorBoard(os.path.join(workdir, "tb"), resume_step=step) if main else None
        self.progress = Progress(config.train.steps, step, enabled=main and config.train.progress)

    def close(self) -> None:
        self.progress.close()
        for writer in (self.metrics, self.snapshots, self.board):
            if writer is not None:
                writer.close()


def _restore(config, trainer, checkpoints, workdir: str, main: bool):
    """``(step, state)``: the newest verified checkpoint of ``workdir`` (hyperparameters from the config when
    ``train.allow_config_change``), or step 0 and a fresh state; `ConfigMismatch` when it holds another run."""
    try:
        restored = checkpoints.latest(trainer.abstract_state())
    except ValueError as e:
        checkpoints.close()
        raise ConfigMismatch(str(e)) from None
    if restored is None:
        return 0, trainer.init()
    step, state = restored
    if config.train.allow_config_change:
        state = trainer.set_hyperparams(state)
    log.info("resuming %s from step %d", workdir, step)
    if main:
        print(f"resuming from step {step} (checkpoint {os.path.join(workdir, 'checkpoints', str(step))})",
              file=sys.stderr, flush=True)
    return step, state


def _train(config, workdir: str, main: bool) -> dict[str, Any]:
    check_workdir_config(config, workdir)
    trainer = Trainer(config, mesh=distributed.make_mesh(config))
    checkpoints = Checkpointer(os.path.join(workdir, "checkpoints"), keep=config.checkpoint.keep)
    step, state = _restore(config, trainer, checkpoints, workdir, main)
    logs, pin = _Logs(config, workdir, step, main), _Pin(config, workdir, main)
    started, start_step = time.perf_counter(), step
    try:
        grace = float(config.train.get("interrupt_grace_s", 60.0))
        with interrupt.handle(grace, lambda: _saved(workdir)) as caught:
            if step == 0 and config.snapshot.every:
                _snapshot(trainer, state, 0, logs.snapshots)
            while step < config.train.steps:
                step, state = _chunk(config, trainer, checkpoints, logs, step, state, main)
                stop = _any_process(caught)
                if step % config.checkpoint.every == 0 or step == config.train.steps or stop:
                    pin()
                    checkpoints.save(step, state)
                if stop and step < config.train.steps:
                    checkpoints.wait()
                    signum = caught.get("signum", signal.SIGTERM)
                    where = "" if "signum" in caught else " by another process"
                    raise Interrupted(f"{signal.Signals(signum).name} received{where}: checkpoint saved at step "
                                      f"{step} in {workdir}; rerun to resume", step, signum)
            # The final save and evaluation stay under the handler: a signal now ends the
            # run with a message, after the result is written (or the grace period ends it
            # naming the checkpoint of the last step).
            pin()
            checkpoints.save(step, state)
            checkpoints.wait()
            result = results.evaluate(config, trainer, state, step, time.perf_counter() - started, step - start_step)
            return _finish(config, workdir, result, logs, caught, main)
    finally:
        logs.close()
        checkpoints.close()


def _chunk(config, trainer, checkpoints, logs: _Logs, step: int, state, main: bool):
    """Runs the steps up to the next boundary (one compiled chunk), logs them and takes a snapshot when due;
    `Diverged` on non-finite loss or gradients unless ``optim.skip_nonfinite``. Returns ``(step, state)``."""
    end = _next_boundary(step, config)
    t0 = time.perf_counter()
    state, metrics = trainer.train_chunk(state, end - step)
    metrics = {k: np.asarray(v) for k, v in distributed.to_host(metrics).items()}
    elapsed = time.perf_counter() - t0
    bad = metrics["nonfinite"].any(axis=1)
    if bad.any() and not config.optim.skip_nonfinite:
        first = step + 1 + int(np.argmax(bad))
        which = np.flatnonzero(metrics["nonfinite"][int(np.argmax(bad))]).tolist()
        saved = checkpoints.verified_steps()  # saves are asynchronous: name the newest on disk
        kept = (f"last good checkpoint at step {saved[-1]} kept" if saved
                else f"no checkpoint was saved before it (the first is due at step {config.checkpoint.every})")
        message = (f"training diverged at step {first}: non-finite loss or gradients"
                   + (f" in replicas {which}" if len(trainer.replicas) > 1 else "")
                   + f"; stopped, {kept}. Lower optim.learning_rate, clip gradients (optim.clip), or set "
                   "optim.skip_nonfinite=True to skip such steps.")
        if main:
            logs.metrics.write({"step": first, "diverged": True, "nonfinite": int(metrics["nonfinite"].sum())})
        raise Diverged(message, first)
    row = results.row(end, metrics, elapsed, len(metrics["loss"]))
    if main:
        logs.metrics.write(row)
        logs.board.write(end, {k: v for k, v in row.items() if k not in ("step", "replicas")})
        if row["nonfinite"]:
            first = end - len(metrics["loss"]) + 1 + int(np.argmax(bad))
            logs.progress.message(f"non-finite loss or gradients at step {first} ({row['nonfinite']} in this chunk): "
                                  "updates skipped (optim.skip_nonfinite)")
        logs.progress.update(end, {k: row[k] for k in ("loss", "grad_norm", "clip_fraction")})
    if config.snapshot.every and end % config.snapshot.every == 0:
        _snapshot(trainer, state, end, logs.snapshots)
    return end, state


def _finish(config, workdir: str, result: dict[str, Any], logs: _Logs, caught: dict, main: bool) -> dict[str, Any]:
    """Writes the final evaluation (``result.json``, the snapshot plot); `Diverged` when it is not finite,
    `Interrupted` when a signal came during it."""
    step = result["step"]
    if config.optim.skip_nonfinite and main:
        rows = jsonio.read_jsonl(os.path.join(workdir, "metrics.jsonl"))
        result["nonfinite_skipped"] = int(sum(r.get("nonfinite", 0) or 0 for r in rows))
    bad = [k for k, v in result["eval"].items() if not (isinstance(v, (int, float)) and np.isfinite(v))]
    if bad:
        skipped = result.get("nonfinite_skipped")
        message = (f"training diverged: the final evaluation is not finite ({', '.join(bad)}) at step {step}"
                   + (f"; {skipped} non-finite updates were skipped (optim.skip_nonfinite)" if skipped else "")
                   + ". Lower optim.learning_rate or clip gradients (optim.clip).")
        result.update(diverged=True, error=message)
    if main:
        kept = results.write(workdir, result)
        logs.board.write_eval(step, result["eval"])
        plot_snapshots(workdir)
    if bad:
        raise Diverged(message + (kept if main else ""), step)
    if "signum" in caught:
        name = signal.Signals(caught["signum"]).name
        raise Interrupted(f"{name} received during the final evaluation: it finished; "
                          f"{os.path.join(workdir, 'result.json')} written at step {step}, checkpoint "
                          f"saved at step {step} in {workdir}", step, caught["signum"])
    return result


def _any_process(caught: dict) -> bool:
    """True when this or any other process received SIGTERM / SIGINT (all processes
    must stop at the same step to write one consistent checkpoint)."""
    mine = "signum" in caught
    if jax.process_count() == 1:
        return mine
    from jax.experimental import multihost_utils

    return bool(np.any(multihost_utils.process_allgather(np.asarray([mine]))))


def _snapshot(trainer, state, step, snapshots) -> None:
    """One gradient-flow snapshot: every process computes it, the main one writes it."""
    norms = np.asarray(distributed.to_host(trainer.snapshot(state)))
    if snapshots is not None:
        snapshots.write({"step": step, "norms": np.median(norms, axis=0).tolist(), "replicas": norms.tolist()})


