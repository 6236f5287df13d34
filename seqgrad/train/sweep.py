"""Config sweeps: many points, each its own sub-workdir, vmappable points batched into one run.

An experiment file defines ``get_sweep(arg) -> list[dict]`` (big_vision style): each
point is a dict of dotted config overrides, e.g.
``{"model.name": "lstm", "optim.clip": "global_norm", "task.length": 100}``.
`run_sweep` runs them all under one directory ``DIR``:

    DIR/<point name>/result.json     one per point ("eval" = median over its seeds)
    DIR/batched/<group name>/        one training run shared by a group of points
    DIR/sweep.json                   {"points": [{"overrides", "status", "eval", "error", ...}]}
    DIR/summary.md, DIR/sweep.png    the table and the plot (`seqgrad.train.sweep_report`)

Batching: points whose overrides agree on every key except the vmappable ones
(`VMAPPABLE`) and the seed (``train.seed``, ``train.num_seeds``) train in ONE compiled
program, through ``train.hparams`` (product of value lists × seeds, seeds innermost)
and ``train.num_seeds``; the run's ``result.json`` "replicas" are then split back per
point. A group whose points do not form such a full product is split (first by
hyper-parameter values, then into single points) so no replica is trained twice.

Resumable: a point whose ``result.json`` is complete (its step reaches
``train.steps``) is skipped; an interrupted run resumes from its own checkpoints
(``train_and_evaluate`` does that). A run that raises is recorded as failed for
all its points and the sweep goes on.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import logging
import math
import os
import re
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from seqgrad.train.config import VMAPPABLE  # hyper-parameters the replica axis can sweep
from seqgrad.train.loop import Interrupted

log = logging.getLogger(__name__)

SEED_KEYS = ("train.seed", "train.num_seeds")
_MISSING = object()
_ABSENT = object()
_SAFE = re.compile(r"[^A-Za-z0-9._=,+-]")
_MAX_NAME = 120

Runner = Callable[[Any, str], Mapping[str, Any]]


# --------------------------------------------------------------------------- configs and names


def get_path(config, key: str, default=_MISSING):
    """``config.a.b.c`` for ``key = "a.b.c"``; ``default`` (or KeyError) when absent."""
    node = config
    for part in key.split("."):
        try:
            node = node[part]
        except (KeyError, AttributeError, TypeError):
            if default is _MISSING:
                raise KeyError(f"config has no key {key!r}") from None
            return default
    return node


def apply_overrides(config, overrides: Mapping[str, Any]):
    """A deep copy of ``config`` with dotted ``overrides`` set (a locked config rejects unknown keys)."""
    config = copy.deepcopy(config)
    for key, value in overrides.items():
        *parents, leaf = key.split(".")
        node = config
        for part in parents:
            node = node[part]
        try:
            node[leaf] = value
        except (AttributeError, KeyError, TypeError) as e:
            raise ValueError(f"cannot set config key {key!r} to {value!r}: {e}") from None
    return config


def _fmt(value) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, (int, float, str)):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def point_name(overrides: Mapping[str, Any]) -> str:
    """Readable, filesystem-safe, stable sub-workdir name of a point.

    ``{"task.length": 100, "model.name": "lstm"} -> "model.name=lstm,task.length=100"``
    (keys sorted). When characters had to be replaced, or the name is longer than
    120 characters, an 8-hex digest of the exact overrides is appended so that
    distinct points never share a name.
    """
    if not overrides:
        return "base"
    raw = ",".join(f"{k}={_fmt(overrides[k])}" for k in sorted(overrides))
    safe = _SAFE.sub("_", raw)
    if safe == raw and len(raw) <= _MAX_NAME and not raw.startswith("."):
        return raw
    digest = hashlib.sha1(json.dumps(dict(sorted(overrides.items())), default=str).encode()).hexdigest()[:8]
    return f"{safe.lstrip('.')[:_MAX_NAME]}-{digest}"


def load_sweep(spec: str) -> list[dict[str, Any]]:
    """The points of ``"experiments/file.py[:arg]"``: its ``get_sweep(arg)`` (no arg: ``get_sweep()``)."""
    import importlib.util

    path, _, arg = spec.partition(":")
    module_spec = importlib.util.spec_from_file_location("seqgrad_sweep_experiment", path)
    if module_spec is None or not os.path.exists(path):
        raise ValueError(f"--config={spec!r}: no experiment file at {path!r}.")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if not hasattr(module, "get_sweep"):
        raise ValueError(f"--config={spec!r}: {path} defines no get_sweep(arg); it cannot be swept.")
    points = module.get_sweep(arg) if arg else module.get_sweep()
    return [dict(p) for p in points]


# --------------------------------------------------------------------------- points and groups


@dataclass
class Point:
    """One sweep point: its overrides, sub-workdir name, full config, and replicas."""

    index: int
    overrides: dict[str, Any]
    name: str
    config: Any
    seeds: tuple[int, ...]

    def values(self, keys: Sequence[str]) -> tuple:
        """The point's value of each vmappable key (from its config when not overridden)."""
        return tuple(self.overrides[k] if k in self.overrides else get_path(self.config, k, None) for k in keys)


@dataclass
class Group:
    """Points trained by one run; ``keys`` are the hyper-parameters it sweeps."""

    points: list[Point]
    keys: tuple[str, ...] = ()
    values: tuple[tuple[float, ...], ...] = ()

    @property
    def batched(self) -> bool:
        return len(self.points) > 1

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(sorted({s for p in self.points for s in p.seeds}))

    def name(self) -> str:
        if not self.batched:
            return self.points[0].name
        shared = {k: v for k, v in self.points[0].overrides.items() if k not in VMAPPABLE + SEED_KEYS}
        for k, vs in zip(self.keys, self.values):
            shared[k] = "+".join(_fmt(v) for v in vs)
        seeds = self.seeds
        shared["seeds"] = f"{seeds[0]}-{seeds[-1]}"
        return point_name(shared)

    def config(self):
        """The run's config: the shared overrides, ``train.hparams`` and the seed range."""
        if not self.batched:
            return self.points[0].config
        config = copy.deepcopy(self.points[0].config)
        hparams = _hparams(config)
        hparams.update({k: [float(v) for v in vs] for k, vs in zip(self.keys, self.values)})
        seeds = self.seeds
        return apply_overrides(
            config,
            {"train.seed": seeds[0], "train.num_seeds": len(seeds), "train.hparams": json.dumps(hparams)},
        )


def _hparams(config) -> dict[str, list]:
    raw = get_path(config, "train.hparams", "") or ""
    return dict(json.loads(raw)) if isinstance(raw, str) and raw.strip() else {}


def make_points(config, sweep: Sequence[Mapping[str, Any]], overrides: Mapping[str, Any] | None = None) -> list[Point]:
    """Resolve each sweep point to a full config; ``overrides`` (the command line) win.

    A command-line key that a point also sets replaces the point's value, in its
    name too; points that become identical are merged (the first is kept).

    Raises:
      ValueError: naming the point and the key when an override does not fit the config.
    """
    overrides = dict(overrides or {})
    points, seen = [], set()
    for i, raw in enumerate(sweep):
        if not isinstance(raw, Mapping):
            raise ValueError(f"sweep point {i} is {raw!r}; each point must be a dict of dotted config overrides.")
        own = {k: overrides.get(k, v) for k, v in raw.items()}
        name = point_name(own)
        if name in seen:
            log.warning("sweep point %d (%s) repeats an earlier point; skipped.", i, name)
            continue
        seen.add(name)
        merged = {**own, **overrides}
        # A vmappable key the config lacks (``model.options.forget_bias`` with default
        # options) goes through ``train.hparams`` as a one-value list.
        absent = {k: merged.pop(k) for k in list(merged) if k in VMAPPABLE and get_path(config, k, _ABSENT) is _ABSENT}
        if absent:
            merged["train.hparams"] = json.dumps({**_hparams(config), **{k: [float(v)] for k, v in absent.items()}})
        try:
            cfg = apply_overrides(config, merged)
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"sweep point {i} ({name}): {e}") from None
        seed, n = int(cfg.train.seed), int(cfg.train.get("num_seeds", 1) or 1)
        points.append(Point(len(points), own, name, cfg, tuple(range(seed, seed + n))))
    return points


def group_points(points: Sequence[Point]) -> list[Group]:
    """Batch points that differ only in vmappable values and seeds into full-product groups."""
    by_key: dict[str, list[Point]] = {}
    for p in points:
        fixed = {k: v for k, v in p.overrides.items() if k not in VMAPPABLE + SEED_KEYS}
        by_key.setdefault(json.dumps(fixed, sort_keys=True, default=str), []).append(p)
    groups: list[Group] = []
    for members in by_key.values():
        groups.extend(_split(members))
    return sorted(groups, key=lambda g: g.points[0].index)


def _split(points: list[Point]) -> list[Group]:
    """One group when the points tile a product of values × a contiguous seed range, else split."""
    if len(points) == 1:
        return [Group(points)]
    keys = tuple(k for k in VMAPPABLE if any(k in p.overrides for p in points))
    group = _product_group(points, keys)
    if group is not None:
        return [group]
    by_values: dict[tuple, list[Point]] = {}
    for p in points:
        by_values.setdefault(p.values(keys), []).append(p)
    if len(by_values) > 1:
        return [g for members in by_values.values() for g in _split(members)]
    return [Group([p]) for p in points]


def _product_group(points: list[Point], keys: tuple[str, ...]) -> Group | None:
    cells = [(p.values(keys), s) for p in points for s in p.seeds]
    if any(v is None or isinstance(v, bool) or not isinstance(v, (int, float)) for vals, _ in cells for v in vals):
        return None
    values = tuple(tuple(sorted({vals[i] for vals, _ in cells})) for i in range(len(keys)))
    seeds = sorted({s for _, s in cells})
    if seeds != list(range(seeds[0], seeds[0] + len(seeds))):
        return None
    full = {(vals, s) for vals in itertools.product(*values) for s in seeds}
    if len(cells) != len(set(cells)) or set(cells) != full:
        return None
    return Group(list(points), keys, values)


# --------------------------------------------------------------------------- results


def read_json(path: str) -> Any | None:
    """The parsed file, or None when it is absent or not (yet) valid JSON."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_json(path: str, obj: Any) -> None:
    """Write atomically: a temporary file in the same directory, then `os.replace`."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, default=_jsonable)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _jsonable(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def is_complete(result: Any, steps: int) -> bool:
    """True for a finished run's result: an "eval" and a step that reached ``train.steps``."""
    if not isinstance(result, Mapping) or not isinstance(result.get("eval"), Mapping):
        return False
    return _is_number(result.get("step")) and result["step"] >= steps


def _replica_value(replica: Mapping[str, Any], key: str):
    for source in (replica, replica.get("hparams") or {}):
        for k in (key, key.rsplit(".", 1)[-1]):
            if k in source:
                return source[k]
    return _MISSING


def split_result(result: Mapping[str, Any], point: Point, keys: Sequence[str]) -> dict[str, Any]:
    """The part of a run's result that belongs to ``point``: its replicas and their median eval."""
    replicas = list(result.get("replicas") or [])
    if not replicas:  # a single-replica run reports only its eval
        replicas = [{"seed": point.seeds[0], "eval": result["eval"]}]
    want = point.values(keys)
    mine = []
    for r in replicas:
        if int(r.get("seed", point.seeds[0])) not in point.seeds:
            continue
        got = [_replica_value(r, k) for k in keys]
        if any(g is _MISSING for g in got):
            raise ValueError(f"result replicas lack the hyper-parameters {list(keys)}: {r}")
        if all(math.isclose(float(g), float(w), rel_tol=1e-6, abs_tol=1e-12) for g, w in zip(got, want)):
            mine.append(r)
    # Hyper-parameters the base config itself sweeps multiply the point's replicas.
    expected = len(point.seeds) * math.prod(len(v) for k, v in _hparams(point.config).items() if k not in keys)
    if len(mine) != expected:
        raise ValueError(
            f"expected {expected} replicas for {point.name} (seeds {list(point.seeds)}), found {len(mine)}"
        )
    evals = [r["eval"] for r in mine]
    metrics = [k for k in evals[0] if all(_is_number(e.get(k)) for e in evals)]
    return {
        "step": result.get("step"),
        "eval": {k: float(np.median([e[k] for e in evals])) for k in metrics},
        "spread": {k: [float(min(e[k] for e in evals)), float(max(e[k] for e in evals))] for k in metrics},
        "seeds": list(point.seeds),
        "baseline": result.get("baseline"),
        "replicas": mine,
    }


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


# --------------------------------------------------------------------------- the sweep


def _default_runner(config, workdir):
    from seqgrad.train import train_and_evaluate

    return train_and_evaluate(config, workdir)


def run_sweep(
    config,
    sweep_points: Sequence[Mapping[str, Any]],
    workdir: str,
    runner: Runner | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run every point of a sweep under ``workdir``; returns the content of ``sweep.json``.

    Args:
      config: the base `ml_collections.ConfigDict` (command-line overrides applied).
      sweep_points: list of dicts of dotted config overrides (``get_sweep(arg)``).
      workdir: the sweep directory ``DIR``.
      runner: ``(config, workdir) -> result dict``; defaults to
        `seqgrad.train.train_and_evaluate`. Tests inject a fake one.
      overrides: the command-line overrides, re-applied over each point (they win).

    Only process 0 writes files; every process runs every training run (SPMD).
    """
    from seqgrad.train import distributed, sweep_report

    runner = runner or _default_runner
    main = distributed.is_main_process()
    points = make_points(config, sweep_points, overrides)
    groups = group_points(points)
    previous = {r.get("name"): r for r in (read_json(os.path.join(workdir, "sweep.json")) or {}).get("points", [])}
    records: dict[str, dict] = {p.name: {"name": p.name, "overrides": p.overrides, "status": "pending"} for p in points}

    def save():
        if main:
            write_json(os.path.join(workdir, "sweep.json"), {"points": [records[p.name] for p in points]})

    for gi, group in enumerate(groups, 1):
        label = f"[{gi}/{len(groups)}] {group.name()}"
        steps = int(group.points[0].config.train.steps)
        if _skip_finished(group, workdir, steps, records, previous):
            _say(main, f"{label}: finished earlier, skipped")
            save()
            continue
        run_dir = os.path.join(workdir, "batched", group.name()) if group.batched else os.path.join(workdir, group.points[0].name)
        start = time.perf_counter()
        try:
            result = read_json(os.path.join(run_dir, "result.json"))
            if group.batched and is_complete(result, steps):  # trained; only its split is missing
                wall = next((previous[p.name]["wall_s"] for p in group.points if previous.get(p.name, {}).get("wall_s")), None)
            else:
                result = dict(runner(group.config(), run_dir))
                wall = time.perf_counter() - start
            for p in group.points:
                part = split_result(result, p, group.keys)
                if group.batched:
                    part["run"] = os.path.relpath(run_dir, os.path.join(workdir, p.name))
                    if main:
                        write_json(os.path.join(workdir, p.name, "result.json"), {**part, "overrides": p.overrides})
                records[p.name] = _record(p, group, part, wall, None)
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
                records[p.name] = _record(p, group, None, wall, error)
        save()
    summary = {"points": [records[p.name] for p in points]}
    if main:
        sweep_report.write_summary(summary, os.path.join(workdir, "summary.md"))
        sweep_report.plot_sweep(summary, os.path.join(workdir, "sweep.png"))
    return summary


def _say(main: bool, line: str) -> None:
    if main:
        print(line, flush=True)


def _skip_finished(group: Group, workdir: str, steps: int, records: dict, previous: dict) -> bool:
    """Record the group's points from their complete result.json files; False if one is not."""
    found = {p.name: read_json(os.path.join(workdir, p.name, "result.json")) for p in group.points}
    if not all(is_complete(r, steps) for r in found.values()):
        return False
    try:
        done = {p.name: _record(p, group, found[p.name], previous.get(p.name, {}).get("wall_s"), None) for p in group.points}
    except (ValueError, KeyError, TypeError):  # unreadable: run (or resume) it again
        return False
    records.update(done)
    return True


def _record(point: Point, group: Group, part, wall, error) -> dict[str, Any]:
    record = {"name": point.name, "overrides": point.overrides, "status": "failed" if error else "done"}
    if part is not None and "spread" not in part:  # a single run's own result.json
        part = split_result(part, point, group.keys)
    part = part or {}
    record.update(
        eval=part.get("eval", {}),
        spread=part.get("spread", {}),
        seeds=part.get("seeds", list(point.seeds)),
        baseline=part.get("baseline"),
        step=part.get("step"),
        wall_s=wall,
        batched=group.batched,
        error=error,
    )
    return record
