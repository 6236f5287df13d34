"""Replicas of one run: ``train.num_seeds`` × ``train.hparams``, and the one parser of ``train.hparams``.

``train.hparams`` is a JSON object (or a dict) mapping keys of `VMAPPABLE` to lists
of values, e.g. ``'{"optim.learning_rate": [1e-3, 3e-3]}'``. The replicas are the
product of the lists (in the order given) times the seeds ``train.seed + j``, seeds
innermost; `replicas(config)` lists them. None of these values change a shape, so
all replicas run in one compiled step.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping
from typing import Any

import ml_collections

from seqgrad import checks, configkeys

VMAPPABLE = ("optim.learning_rate", "optim.clip_value", "optim.weight_decay", "model.options.forget_bias")

__all__ = ["VMAPPABLE", "parse", "parse_hparams", "dumps", "count", "replicas", "replica_config"]


def parse(raw: Any) -> dict[str, list[float]]:
    """``train.hparams`` (a JSON string, a dict, or empty) as ``{key: [values]}``.

    Raises:
      ValueError: not a JSON object, a key outside `VMAPPABLE`, or a value list that is
        empty or holds something other than numbers.
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else dict(raw)
    except (json.JSONDecodeError, TypeError, ValueError) as e:
        raise ValueError(
            f"train.hparams={raw!r} is not a JSON object mapping keys to lists, "
            f'e.g. \'{{"optim.learning_rate": [0.001, 0.003]}}\': {e}'
        ) from None
    if not isinstance(parsed, Mapping):
        raise ValueError(f"train.hparams={raw!r} must be a JSON object; valid keys: {list(VMAPPABLE)}")
    for key, values in parsed.items():
        if key not in VMAPPABLE:
            raise ValueError(f"train.hparams key {key!r} cannot be vmapped; valid keys: {list(VMAPPABLE)}")
        if not isinstance(values, list) or not values or not all(checks.is_number(v) for v in values):
            raise ValueError(f"train.hparams[{key!r}]={values!r} must be a non-empty list of numbers")
    return {k: [float(v) for v in vs] for k, vs in parsed.items()}


def parse_hparams(config) -> dict[str, list[float]]:
    """``config.train.hparams`` parsed (`parse`); an empty dict when unset or absent."""
    return parse(configkeys.get(config, "train.hparams", ""))


def dumps(hparams: Mapping[str, list]) -> str:
    """The ``train.hparams`` string of ``{key: [values]}``."""
    return json.dumps({k: [float(v) for v in vs] for k, vs in hparams.items()})


def count(config) -> int:
    """R = ``train.num_seeds`` × the product of the ``train.hparams`` list lengths."""
    seeds = int(configkeys.get(config, "train.num_seeds", 1) or 1)
    return seeds * math.prod(len(v) for v in parse_hparams(config).values())


def replicas(config) -> list[dict[str, Any]]:
    """One dict per replica: ``{"seed": s, <hparam key>: value, ...}``, seeds innermost."""
    hparams = parse_hparams(config)
    keys = list(hparams)
    out = []
    for values in itertools.product(*(hparams[k] for k in keys)):
        for j in range(config.train.num_seeds):
            out.append({"seed": config.train.seed + j, **dict(zip(keys, values))})
    return out


def replica_config(config, replica: Mapping[str, Any]) -> ml_collections.ConfigDict:
    """The single-run config equal to one replica (its seed and hyper-parameters)."""
    single = ml_collections.ConfigDict(config.to_dict())
    single.train.seed = replica["seed"]
    single.train.num_seeds = 1
    single.train.hparams = ""
    for key, value in replica.items():
        if key != "seed":
            configkeys.set(single, key, value)
    return single
