"""Planning a sweep (pure: no files, no training): points, their names, their batching.

An experiment file defines ``get_sweep(arg) -> list[dict]`` (big_vision style): each
point is a dict of dotted config overrides, e.g.
``{"model.name": "lstm", "optim.clip": "global_norm", "task.length": 100}``.

* `load_sweep("experiments/file.py[:arg]")`: the points of the file.
* `make_points(config, points, overrides)`: each point resolved to a full config;
  command-line ``overrides`` win. A point may change ``model.name``: options of the
  base architecture that the point's architecture does not take are dropped at
  validation, while a ``model.options.*`` key the point (or the command line) sets
  must be one its architecture takes (`seqgrad.train.config.check_overrides`).
* `group_points(points)`: batching. Points whose overrides agree on every key except
  the vmappable ones (`VMAPPABLE`) and the seed (``train.seed``, ``train.num_seeds``)
  train in ONE compiled program, through ``train.hparams`` (product of value lists ×
  seeds, seeds innermost) and ``train.num_seeds``. A group whose points do not form
  such a full product is split (first by hyper-parameter values, then into single
  points) so no replica is trained twice.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from seqgrad import configkeys
from seqgrad.train import config as config_lib
from seqgrad.train import hparams as hparams_lib
from seqgrad.train.hparams import VMAPPABLE  # hyper-parameters the replica axis can sweep

log = logging.getLogger(__name__)

SEED_KEYS = ("train.seed", "train.num_seeds")
_ABSENT = object()
_SAFE = re.compile(r"[^A-Za-z0-9._=,+-]")
_MAX_NAME = 120


def get_path(config, key: str, *default):
    """``config.a.b.c`` for ``key = "a.b.c"``; ``default`` (or KeyError) when absent (`seqgrad.configkeys.get`)."""
    return configkeys.get(config, key, *default)


def apply_overrides(config, overrides: Mapping[str, Any]):
    """A deep copy of ``config`` with dotted ``overrides`` set (`seqgrad.configkeys.with_overrides`).

    An override of ``model.name`` to another architecture is applied first, by
    `seqgrad.train.config.set_model`: ``model.options`` become that architecture's
    defaults, keeping the base's values of the options both take, so that the
    point's own ``model.options.*`` keys exist in the locked config.
    """
    name = overrides.get("model.name")
    if name is not None and name != config.model.name:
        config = copy.deepcopy(config)
        shared = dict(config.model.options)
        with config.unlocked():
            config_lib.set_model(config, name)
            for key in set(shared) & set(config.model.options):
                config.model.options[key] = shared[key]
        overrides = {k: v for k, v in overrides.items() if k != "model.name"}
        config_lib.check_overrides(config, {k: v for k, v in overrides.items() if k.startswith("model.options.")})
    return configkeys.with_overrides(config, overrides)


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
    if not isinstance(points, (list, tuple)) or not all(isinstance(p, Mapping) for p in points):
        raise ValueError(f"--config={spec!r}: get_sweep returned {type(points).__name__}, not a list of dicts "
                         "of dotted config overrides")
    if not points:
        raise ValueError(f"--config={spec!r}: get_sweep returned no points: nothing to sweep")
    return [dict(p) for p in points]


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
        hparams = hparams_lib.parse_hparams(config)
        hparams.update({k: [float(v) for v in vs] for k, vs in zip(self.keys, self.values)})
        seeds = self.seeds
        return apply_overrides(
            config,
            {"train.seed": seeds[0], "train.num_seeds": len(seeds), "train.hparams": hparams_lib.dumps(hparams)},
        )


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
            merged["train.hparams"] = hparams_lib.dumps(
                {**hparams_lib.parse_hparams(config), **{k: [float(v)] for k, v in absent.items()}}
            )
        try:
            cfg = apply_overrides(config, merged)
            config_lib.check_overrides(cfg, {**own, **overrides})
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


