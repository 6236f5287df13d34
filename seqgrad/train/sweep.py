"""Config sweeps: many points, each its own sub-workdir, vmappable points batched into one run.

An experiment file defines ``get_sweep(arg) -> list[dict]`` (big_vision style): each
point is a dict of dotted config overrides, e.g.
``{"model.name": "lstm", "optim.clip": "global_norm", "task.length": 100}``.
`run_sweep` runs them all under one directory ``DIR``:

    DIR/<point name>/result.json     one per point ("eval" = median over its seeds)
    DIR/batched/<group name>/        one training run shared by a group of points
    DIR/sweep.json                   {"points": [{"overrides", "status", "eval", "error", ...}]}
    DIR/summary.md, DIR/sweep.png    the table and the plot (`seqgrad.report.sweep`)

Planning (pure) is `seqgrad.train.sweep_plan`: the points, their names and their
batching into groups, one training run per group; a batched run's ``result.json``
"replicas" are split back per point by `seqgrad.train.sweep_results`. This module
runs the groups and writes the files.

Resumable: a point whose ``result.json`` is complete (its step reaches
``train.steps``, and it holds what the runner adds: ``finished``) is skipped; an interrupted run resumes from its own checkpoints
(``train_and_evaluate`` does that). A run that raises is recorded as failed for
all its points and the sweep goes on.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from seqgrad.jsonio import read_json, with_reasons, write_json
from seqgrad.train import resources
from seqgrad.report import sweep as sweep_report
from seqgrad.train import distributed
from seqgrad.train.errors import Interrupted
from seqgrad.train.sweep_plan import (
    Group,
    group_points,
    make_points,
)
from seqgrad.train.sweep_results import is_complete, record, split_result
from seqgrad.train import validation

log = logging.getLogger(__name__)

Runner = Callable[[Any, str], Mapping[str, Any]]


def _default_runner(config, workdir):
    from seqgrad.train import train_and_evaluate

    return train_and_evaluate(config, workdir)


def run_sweep(
    config,
    sweep_points: Sequence[Mapping[str, Any]],
    workdir: str,
    runner: Runner | None = None,
    overrides: Mapping[str, Any] | None = None,
    finished: Callable[[Any, int], bool] = is_complete,
) -> dict[str, Any]:
    """Run every point of a sweep under ``workdir``; returns the content of ``sweep.json``.

    Args:
      config: the base `ml_collections.ConfigDict` (command-line overrides applied).
      sweep_points: list of dicts of dotted config overrides (``get_sweep(arg)``).
      workdir: the sweep directory ``DIR``.
      runner: ``(config, workdir) -> result dict``; defaults to
        `seqgrad.train.train_and_evaluate`. Tests inject a fake one.
      overrides: the command-line overrides, re-applied over each point (they win).
      finished: ``(result, train.steps) -> bool``, whether a point's ``result.json`` needs
        no more work (default `is_complete`); a runner that adds to the result after
        training (`seqgrad.train.remedies`) also requires what it adds, so a point
        stopped between training and that step is run again (its training resumes
        from the final checkpoint).

    Only process 0 writes files; every process runs every training run (SPMD).
    """
    runner = runner or _default_runner
    main = distributed.is_main_process()
    points = make_points(config, sweep_points, overrides)
    groups = group_points(points)
    previous = {r.get("name"): r for r in (read_json(os.path.join(workdir, "sweep.json")) or {}).get("points", [])}
    records: dict[str, dict] = {p.name: {"name": p.name, "overrides": p.overrides, "status": "pending"} for p in points}

    def save():
        if main:
            write_json(os.path.join(workdir, "sweep.json"), with_reasons({"points": [records[p.name] for p in points]}))

    for gi, group in enumerate(groups, 1):
        label = f"[{gi}/{len(groups)}] {group.name()}"
        steps = int(group.points[0].config.train.steps)
        if _skip_finished(group, workdir, steps, records, previous, finished):
            _say(main, f"{label}: finished earlier, skipped")
            save()
            continue
        run_dir = os.path.join(workdir, "batched", group.name()) if group.batched else os.path.join(workdir, group.points[0].name)
        start = time.perf_counter()
        try:
            result = read_json(os.path.join(run_dir, "result.json"))
            if group.batched and finished(result, steps):  # trained; only its split is missing
                wall = next((previous[p.name]["wall_s"] for p in group.points if previous.get(p.name, {}).get("wall_s")), None)
            else:
                result = dict(runner(group.config(), run_dir))
                wall = time.perf_counter() - start
            for p in group.points:
                part = split_result(result, p, group.keys)
                if group.batched:
                    part["run"] = os.path.relpath(run_dir, os.path.join(workdir, p.name))
                    if main:
                        write_json(os.path.join(workdir, p.name, "result.json"),
                                   with_reasons({**part, "overrides": p.overrides}))
                records[p.name] = record(p, group, part, wall, None)
            _say(main, f"{label}: done" + (f" in {wall:.1f} s" if wall is not None else ""))
        except Interrupted:  # SIGTERM / Ctrl-C: the run saved a checkpoint; stop the sweep too
            save()
            raise
        except Exception as e:  # noqa: BLE001  a failing point must not stop the sweep
            wall = time.perf_counter() - start
            error = f"{type(e).__name__}: {e}"
            _say(main, f"{label}: FAILED after {wall:.1f} s: {error}")
            log.error("%s failed:\n%s", label, traceback.format_exc())
            for p in group.points:
                records[p.name] = record(p, group, None, wall, error)
        save()
    summary = {"points": [records[p.name] for p in points]}
    if main:
        sweep_report.write_summary(summary, os.path.join(workdir, "summary.md"))
        sweep_report.plot_sweep(summary, os.path.join(workdir, "sweep.png"))
    return summary


def validate_points(config, sweep_points: Sequence[Mapping[str, Any]], overrides: Mapping[str, Any] | None = None) -> None:
    """Validates the config of every run of the sweep before the first starts.

    Raises:
      ValueError: one line, naming the run (``sweep point <group name>: ...``).
    """
    for group in group_points(make_points(config, sweep_points, overrides)):
        try:
            validation.validate(group.config())
            resources.check_training(group.config())  # the memory estimate, before the first point compiles
        except ValueError as e:
            raise ValueError(f"sweep point {group.name()}: {e}") from None


def _say(main: bool, line: str) -> None:
    if main:
        print(line, flush=True)


def _skip_finished(group: Group, workdir: str, steps: int, records: dict, previous: dict,
                   finished: Callable[[Any, int], bool]) -> bool:
    """Record the group's points from their finished result.json files; False if one is not."""
    found = {p.name: read_json(os.path.join(workdir, p.name, "result.json")) for p in group.points}
    if not all(finished(r, steps) for r in found.values()):
        return False
    try:
        done = {p.name: record(p, group, found[p.name], previous.get(p.name, {}).get("wall_s"), None) for p in group.points}
    except (ValueError, KeyError, TypeError):  # unreadable: run (or resume) it again
        return False
    records.update(done)
    return True

