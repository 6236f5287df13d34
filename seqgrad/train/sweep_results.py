"""A sweep's results: which runs are finished, and a batched run's result split per point.

* `is_complete(result, steps)`: a ``result.json`` of a finished run.
* `split_result(result, point, keys)`: the replicas of a (batched) run that belong to
  ``point``, and their median eval with ``[min, max]`` over seeds.
* `record(point, group, part, wall, error)`: the point's row of ``sweep.json``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from seqgrad import checks
from seqgrad.train import hparams as hparams_lib
from seqgrad.train.sweep_plan import Group, Point

_MISSING = object()


def is_complete(result: Any, steps: int) -> bool:
    """True for a finished run's result: an "eval" and a step that reached ``train.steps``."""
    if not isinstance(result, Mapping) or not isinstance(result.get("eval"), Mapping):
        return False
    return checks.is_number(result.get("step")) and result["step"] >= steps


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
    expected = len(point.seeds) * math.prod(len(v) for k, v in hparams_lib.parse_hparams(point.config).items() if k not in keys)
    if len(mine) != expected:
        raise ValueError(
            f"expected {expected} replicas for {point.name} (seeds {list(point.seeds)}), found {len(mine)}"
        )
    evals = [r["eval"] for r in mine]
    metrics = [k for k in evals[0] if all(checks.is_number(e.get(k)) for e in evals)]
    return {
        "step": result.get("step"),
        "eval": {k: float(np.median([e[k] for e in evals])) for k in metrics},
        "spread": {k: [float(min(e[k] for e in evals)), float(max(e[k] for e in evals))] for k in metrics},
        "seeds": list(point.seeds),
        "baseline": result.get("baseline"),
        "replicas": mine,
    }


def record(point: Point, group: Group, part, wall, error) -> dict[str, Any]:
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
