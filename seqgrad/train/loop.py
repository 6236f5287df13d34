"""`train_and_evaluate(config, workdir)`: the whole run, resumable and interruptible.

Data flow: config → (task, model, optax chain) → state of R replicas → chunks of
``train.steps_per_dispatch`` jitted steps → metrics, checkpoints, snapshots →
final evaluation → ``result.json``.

Workdir layout::

    config.json      the config of the run (a rerun with another config is refused)
    checkpoints/     orbax steps: the state after N updates is step N
    metrics.jsonl    one row per chunk
    tb/              TensorBoard event files
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
from seqgrad.train import distributed, flossing, interrupt
from seqgrad.train import workdir as workdir_lib
from seqgrad.train.checkpoint import Checkpointer, complete_steps, damage
from seqgrad.train.errors import ConfigMismatch, Diverged, Interrupted, TrainingError  # noqa: F401  (re-exported)
from seqgrad.train.runlog import JsonlLog, TensorBoard
from seqgrad.train.state import Trainer

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- helpers


def _is_main() -> bool:
    return distributed.is_main_process()


def _mesh(config):
    return distributed.make_mesh(config)


def _to_host(tree):
    return distributed.to_host(tree)


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


def _median(values: np.ndarray) -> float:
    return float(np.median(values))


def _row(step: int, metrics: dict[str, np.ndarray], elapsed: float, length: int) -> dict[str, Any]:
    """One metrics row from chunk metrics ``[length, R]``: per-replica values and medians."""
    per_replica = {
        "loss": np.mean(metrics["loss"], axis=0),
        "grad_norm": np.mean(metrics["grad_norm"], axis=0),
        "clip_fraction": np.mean(metrics["clipped"], axis=0),
        "learning_rate": metrics["learning_rate"][-1],
        "nonfinite": np.sum(metrics["nonfinite"], axis=0).astype(int),
    }
    row: dict[str, Any] = {"step": step}
    row.update({k: _median(v) for k, v in per_replica.items()})
    row["nonfinite"] = int(np.sum(per_replica["nonfinite"]))
    row["steps_per_s"] = length / elapsed if elapsed > 0 else None
    row.update(flossing.row_entries(metrics))
    if metrics["loss"].shape[1] > 1:
        row["replicas"] = {k: v.tolist() for k, v in per_replica.items()}
    return row


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
    config_lib.validate(config)
    resources.check_training(config)
    workdir = workdir_lib.prepare(workdir)
    main = _is_main()
    with workdir_lib.lock(workdir, enabled=main):
        return _train(config, workdir, main)


def _saved(workdir: str) -> str:
    """The newest complete checkpoint whose files match their manifest (a step committed
    so recently that its manifest is not written yet counts: a rerun verifies it by
    restoring it), in words (reads files only)."""
    directory = os.path.join(workdir, "checkpoints")
    steps = [s for s in complete_steps(directory) if not damage(os.path.join(directory, str(s)))]
    return f"step {steps[-1]} in {directory}" if steps else f"none yet in {directory} (a rerun starts at step 0)"


def _train(config, workdir: str, main: bool) -> dict[str, Any]:
    check_workdir_config(config, workdir)
    # config.json is written with the first checkpoint of this invocation: a run that
    # failed before it (a layout error, divergence at once) does not pin the workdir.
    pinned = False

    def pin():
        nonlocal pinned
        if main and not pinned:
            jsonio.write_json(os.path.join(workdir, "config.json"), config.to_dict())
        pinned = True

    trainer = Trainer(config, mesh=_mesh(config))
    checkpoints = Checkpointer(os.path.join(workdir, "checkpoints"), keep=config.checkpoint.keep)
    try:
        restored = checkpoints.latest(trainer.abstract_state())
    except ValueError as e:
        checkpoints.close()
        raise ConfigMismatch(str(e)) from None
    if restored is None:
        step, state = 0, trainer.init()
    else:
        step, state = restored
        if config.train.allow_config_change:
            state = trainer.set_hyperparams(state)
        log.info("resuming %s from step %d", workdir, step)
        if main:
            print(f"resuming from step {step} (checkpoint {os.path.join(workdir, 'checkpoints', str(step))})",
                  file=sys.stderr, flush=True)

    total = config.train.steps
    metrics_log = JsonlLog(os.path.join(workdir, "metrics.jsonl"), step) if main else None
    # Opened (and truncated to the resumed step) only when snapshots are on or were on before.
    snapshot_path = os.path.join(workdir, "gradflow.jsonl")
    keep_snapshots = main and (config.snapshot.every or os.path.exists(snapshot_path))
    snapshots = JsonlLog(snapshot_path, step) if keep_snapshots else None
    board = TensorBoard(os.path.join(workdir, "tb")) if main else None
    progress = Progress(total, step, enabled=main and config.train.progress)
    started = time.perf_counter()
    start_step = step
    try:
        grace = float(config.train.get("interrupt_grace_s", 60.0))
        with interrupt.handle(grace, lambda: _saved(workdir)) as caught:
            if step == 0 and config.snapshot.every:
                _snapshot(trainer, state, 0, snapshots)
            while step < total:
                end = _next_boundary(step, config)
                t0 = time.perf_counter()
                state, metrics = trainer.train_chunk(state, end - step)
                metrics = {k: np.asarray(v) for k, v in _to_host(metrics).items()}
                elapsed = time.perf_counter() - t0
                bad = metrics["nonfinite"].any(axis=1)
                if bad.any() and not config.optim.skip_nonfinite:
                    first = step + 1 + int(np.argmax(bad))
                    which = np.flatnonzero(metrics["nonfinite"][int(np.argmax(bad))]).tolist()
                    saved = checkpoints.verified_steps()  # saves are asynchronous: name the newest on disk
                    kept = (
                        f"last good checkpoint at step {saved[-1]} kept"
                        if saved
                        else f"no checkpoint was saved before it (the first is due at step {config.checkpoint.every})"
                    )
                    message = (
                        f"training diverged at step {first}: non-finite loss or gradients"
                        + (f" in replicas {which}" if len(trainer.replicas) > 1 else "")
                        + f"; stopped, {kept}. Lower optim.learning_rate, clip gradients (optim.clip), or set "
                        "optim.skip_nonfinite=True to skip such steps."
                    )
                    if main:
                        metrics_log.write({"step": first, "diverged": True, "nonfinite": int(metrics["nonfinite"].sum())})
                    raise Diverged(message, first)
                step = end
                row = _row(step, metrics, elapsed, len(metrics["loss"]))
                if main:
                    metrics_log.write(row)
                    board.write(step, {k: v for k, v in row.items() if k not in ("step", "replicas")})
                    if row["nonfinite"]:
                        first = step - len(metrics["loss"]) + 1 + int(np.argmax(bad))
                        progress.message(
                            f"non-finite loss or gradients at step {first} ({row['nonfinite']} in this chunk): "
                            "updates skipped (optim.skip_nonfinite)"
                        )
                    progress.update(step, {k: row[k] for k in ("loss", "grad_norm", "clip_fraction")})
                if config.snapshot.every and step % config.snapshot.every == 0:
                    _snapshot(trainer, state, step, snapshots)
                stop = _any_process(caught)
                if step % config.checkpoint.every == 0 or step == total or stop:
                    pin()
                    checkpoints.save(step, state)
                if stop and step < total:
                    checkpoints.wait()
                    signum = caught.get("signum", signal.SIGTERM)
                    name = signal.Signals(signum).name
                    where = "" if "signum" in caught else " by another process"
                    message = f"{name} received{where}: checkpoint saved at step {step} in {workdir}; rerun to resume"
                    raise Interrupted(message, step, signum)
            # The final save and evaluation stay under the handler: a signal now ends the
            # run with a message, after the result is written (or the grace period ends it
            # naming the checkpoint of the last step).
            pin()
            checkpoints.save(step, state)
            checkpoints.wait()
            result = _result(config, trainer, state, step, time.perf_counter() - started, step - start_step)
            if config.optim.skip_nonfinite and main:
                rows = jsonio.read_jsonl(os.path.join(workdir, "metrics.jsonl"))
                result["nonfinite_skipped"] = int(sum(r.get("nonfinite", 0) or 0 for r in rows))
            bad = [k for k, v in result["eval"].items() if not (isinstance(v, (int, float)) and np.isfinite(v))]
            if bad:
                skipped = result.get("nonfinite_skipped")
                message = (
                    f"training diverged: the final evaluation is not finite ({', '.join(bad)}) at step {step}"
                    + (f"; {skipped} non-finite updates were skipped (optim.skip_nonfinite)" if skipped else "")
                    + ". Lower optim.learning_rate or clip gradients (optim.clip)."
                )
                result.update(diverged=True, error=message)
            if main:
                kept = _write_result(workdir, result)
                plot_snapshots(workdir)
            if bad:
                raise Diverged(message + (kept if main else ""), step)
            if "signum" in caught:
                name = signal.Signals(caught["signum"]).name
                raise Interrupted(f"{name} received during the final evaluation: it finished; "
                                  f"{os.path.join(workdir, 'result.json')} written at step {step}, checkpoint "
                                  f"saved at step {step} in {workdir}", step, caught["signum"])
            return result
    finally:
        progress.close()
        checkpoints.close()
        for writer in (metrics_log, snapshots, board):
            if writer is not None:
                writer.close()


def _write_result(workdir: str, result: dict[str, Any]) -> str:
    """Writes ``result.json``, except that a finished, finite result of the same step is
    never replaced by a diverged one (that goes to ``result.diverged.json``); returns
    a sentence saying so, or ""."""
    path = os.path.join(workdir, "result.json")
    old = jsonio.read_json(path)
    if result.get("diverged") and isinstance(old, dict) and not old.get("diverged") and old.get("step") == result["step"]:
        other = os.path.join(workdir, "result.diverged.json")
        note = f" The earlier finite {path} of step {result['step']} is kept; this evaluation is in {other}."
        result["error"] += note
        jsonio.write_json(other, result)
        return note
    jsonio.write_json(path, result)
    return ""


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
    norms = np.asarray(_to_host(trainer.snapshot(state)))
    if snapshots is not None:
        snapshots.write({"step": step, "norms": np.median(norms, axis=0).tolist(), "replicas": norms.tolist()})


def _result(config, trainer, state, step, wall_time, steps_run) -> dict[str, Any]:
    evaluation = {k: np.asarray(v) for k, v in _to_host(trainer.evaluate(state)).items()}
    result: dict[str, Any] = {
        "step": int(step),
        "eval": {k: _median(v) for k, v in evaluation.items()},
        "baseline": trainer.task.baseline(),
        "task": {"name": config.task.name, "length": config.task.length, "seq_len": trainer.task.seq_len},
        "model": {"name": config.model.name, "hidden_size": config.model.hidden_size},
        "num_replicas": len(trainer.replicas),
        "wall_time_s": wall_time,
        "steps_per_s": steps_run / wall_time if steps_run and wall_time > 0 else None,
    }
    if len(trainer.replicas) > 1:
        result["replicas"] = [
            {**replica, "eval": {k: float(v[i]) for k, v in evaluation.items()}}
            for i, replica in enumerate(trainer.replicas)
        ]
    return jsonio.with_reasons(result)

