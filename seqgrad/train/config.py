"""The one config schema of a training run, its validation, and its replicas.

`base_config()` returns every key a run reads, with defaults; experiment files
(``experiments/<task>.py``) start from it, pick the architecture with
`set_model` and the task with `set_task`, change numbers, and lock it.
`validate(config)` checks everything before anything is compiled and raises
`ValueError` naming the key, the value and the valid choices.

Replicas (``train.num_seeds`` × ``train.hparams``): ``train.hparams`` is a JSON
object mapping keys of `VMAPPABLE` to lists of values, e.g.
``'{"optim.learning_rate": [1e-3, 3e-3]}'``. The replicas are the product of the
lists (in the order given) times the seeds ``train.seed + j``, seeds innermost;
`replicas(config)` lists them. None of these values change a shape, so all
replicas run in one compiled step.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import numbers
from typing import Any

import ml_collections

from seqgrad import models, tasks

VMAPPABLE = ("optim.learning_rate", "optim.clip_value", "optim.weight_decay", "model.options.forget_bias")
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop")
CLIPS = ("none", "value", "global_norm", "adaptive", "block_rms")
SCHEDULES = ("constant", "warmup_cosine")
REPLICA_EXECUTION = ("auto", "vmap", "map")

# Keys that may change between runs in one workdir without changing what is computed
# (or, for train.steps, that only extend it).
RESUMABLE_CHANGES = (
    "train.steps",
    "train.steps_per_dispatch",
    "checkpoint.every",
    "checkpoint.keep",
    "snapshot.every",
    "train.allow_config_change",
    "train.replica_execution",
    "train.replica_batch_size",
    "train.progress",
    "mesh.replica",
    "mesh.data",
)


def base_config() -> ml_collections.ConfigDict:
    """Every key of a run, with defaults (an LSTM on the adding problem, T = 100)."""
    c = ml_collections.ConfigDict()

    c.model = ml_collections.ConfigDict()
    c.model.name = "lstm"
    c.model.hidden_size = 64
    c.model.options = ml_collections.ConfigDict()  # passed as **options to models.create

    c.task = ml_collections.ConfigDict()
    c.task.name = "adding"
    c.task.length = 100  # T
    c.task.options = ml_collections.ConfigDict()  # passed as **options to tasks.create

    c.train = ml_collections.ConfigDict()
    c.train.steps = 2000
    c.train.batch_size = 32
    c.train.seed = 0
    c.train.num_seeds = 1
    c.train.hparams = ""  # JSON: {"optim.learning_rate": [...], ...}, see VMAPPABLE
    c.train.replica_execution = "auto"  # auto | vmap | map
    c.train.replica_batch_size = 1  # replicas per lax.map iteration ("map")
    c.train.steps_per_dispatch = 50  # lax.scan length of one call; one metrics row per call
    c.train.allow_config_change = False  # resume a workdir whose saved config differs
    c.train.progress = True  # progress bar (a terminal) or plain lines

    c.optim = ml_collections.ConfigDict()
    c.optim.name = "adam"
    c.optim.learning_rate = 1e-3  # peak value of the schedule
    c.optim.schedule = "constant"
    c.optim.warmup_steps = 100  # warmup_cosine only
    c.optim.decay_steps = 0  # warmup_cosine: 0 = train.steps
    c.optim.end_lr_fraction = 0.0  # warmup_cosine: final lr / peak lr
    c.optim.momentum = 0.9  # momentum (sgd with momentum), rmsprop's momentum when > 0 there
    c.optim.b1 = 0.9  # adam, adamw
    c.optim.b2 = 0.999  # adam, adamw
    c.optim.decay = 0.9  # rmsprop
    c.optim.eps = 1e-8
    c.optim.weight_decay = 0.0  # decoupled for adamw; L2 added to the gradient otherwise
    c.optim.clip = "global_norm"
    c.optim.clip_value = 1.0
    c.optim.skip_nonfinite = False  # wrap the chain in optax.apply_if_finite
    c.optim.max_consecutive_nonfinite = 1000

    c.checkpoint = ml_collections.ConfigDict()
    c.checkpoint.every = 500
    c.checkpoint.keep = 3

    c.eval = ml_collections.ConfigDict()
    c.eval.batch_size = 500
    c.eval.num_batches = 4

    c.snapshot = ml_collections.ConfigDict()
    c.snapshot.every = 0  # gradient-flow snapshot every N steps (0 = never)

    c.mesh = ml_collections.ConfigDict()
    c.mesh.replica = 0  # 0 = automatic
    c.mesh.data = 0
    return c


def use_adam_recipe(c: ml_collections.ConfigDict, *, learning_rate: float = 3e-3, warmup_steps: int = 100) -> None:
    """The optimisation every shipped experiment starts from: Adam, warmup + cosine decay to
    10 % of ``learning_rate``, global-norm clipping at 1.0, 50 steps per dispatch."""
    c.train.steps_per_dispatch = 50
    c.optim.name = "adam"
    c.optim.learning_rate = learning_rate
    c.optim.schedule = "warmup_cosine"
    c.optim.warmup_steps = warmup_steps
    c.optim.end_lr_fraction = 0.1
    c.optim.clip = "global_norm"
    c.optim.clip_value = 1.0


def set_model(config: ml_collections.ConfigDict, name: str, **options: Any) -> ml_collections.ConfigDict:
    """Sets ``model.name`` and fills ``model.options`` with the model's defaults, then ``options``.

    With every option present, a locked config accepts
    ``--config.model.options.<option>=value`` and rejects misspellings.
    """
    arch = models.info(name)
    values = {
        k: v for k, v in arch.options.items() if k != "hidden_size" and not _missing(v)
    }
    values.update(options)
    config.model.name = name
    config.model.options = ml_collections.ConfigDict(values)
    return config


def set_task(config: ml_collections.ConfigDict, name: str, length: int, **options: Any) -> ml_collections.ConfigDict:
    """Sets ``task.name``, ``task.length`` and ``task.options`` (the task's defaults, then ``options``)."""
    values = {k: v for k, v in tasks.options(name).items() if k != "length"}
    values.update(options)
    config.task.name = name
    config.task.length = length
    config.task.options = ml_collections.ConfigDict(values)
    return config


def _missing(value) -> bool:
    return value is dataclasses.MISSING


# --------------------------------------------------------------------------- replicas


def parse_hparams(config) -> dict[str, list[float]]:
    """``train.hparams`` as ``{key: [values]}`` (an empty dict when unset)."""
    raw = config.train.hparams
    if isinstance(raw, str) and not raw.strip():
        return {}
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else dict(raw)
    except (json.JSONDecodeError, TypeError, ValueError) as e:
        raise ValueError(
            f"train.hparams={raw!r} is not a JSON object mapping keys to lists, "
            f'e.g. \'{{"optim.learning_rate": [0.001, 0.003]}}\': {e}'
        ) from None
    if not isinstance(parsed, dict):
        raise ValueError(f"train.hparams={raw!r} must be a JSON object; valid keys: {list(VMAPPABLE)}")
    for key, values in parsed.items():
        if key not in VMAPPABLE:
            raise ValueError(f"train.hparams key {key!r} cannot be vmapped; valid keys: {list(VMAPPABLE)}")
        if (
            not isinstance(values, list)
            or not values
            or any(isinstance(v, bool) or not isinstance(v, numbers.Real) for v in values)
        ):
            raise ValueError(f"train.hparams[{key!r}]={values!r} must be a non-empty list of numbers")
    return {k: [float(v) for v in vs] for k, vs in parsed.items()}


def replicas(config) -> list[dict[str, Any]]:
    """One dict per replica: ``{"seed": s, <hparam key>: value, ...}``, seeds innermost."""
    hparams = parse_hparams(config)
    keys = list(hparams)
    out = []
    for values in itertools.product(*(hparams[k] for k in keys)):
        for j in range(config.train.num_seeds):
            out.append({"seed": config.train.seed + j, **dict(zip(keys, values))})
    return out


def replica_config(config, replica: dict[str, Any]) -> ml_collections.ConfigDict:
    """The single-run config equal to one replica (its seed and hyper-parameters)."""
    single = ml_collections.ConfigDict(config.to_dict())
    single.train.seed = replica["seed"]
    single.train.num_seeds = 1
    single.train.hparams = ""
    for key, value in replica.items():
        if key != "seed":
            section, *rest = key.split(".")
            node = single[section]
            for part in rest[:-1]:
                node = node[part]
            node[rest[-1]] = value
    return single


def get(config, dotted: str) -> Any:
    """``config`` value at a dotted key."""
    node = config
    for part in dotted.split("."):
        node = node[part]
    return node


# --------------------------------------------------------------------------- validation


def _positive_int(key: str, value: Any, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{key}={value!r} is invalid: it must be an integer >= {minimum}")


def _positive(key: str, value: Any, allow_zero: bool = False) -> None:
    bad = isinstance(value, bool) or not isinstance(value, numbers.Real) or value < 0 or (value == 0 and not allow_zero)
    if bad:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{key}={value!r} is invalid: it must be a number {bound}")


def _choice(key: str, value: Any, choices) -> None:
    if value not in choices:
        raise ValueError(f"{key}={value!r} is unknown; valid choices: {list(choices)}")


def validate(config) -> None:
    """Checks every key a run reads; raises `ValueError` naming key, value and valid choices.

    Runs before anything is built or compiled: unknown model/task/optimizer/clip
    names, non-positive sizes, a T too short for the task or for ``skip``, bad
    replica settings.
    """
    _choice("model.name", config.model.name, models.available())
    _choice("task.name", config.task.name, tasks.available())
    _positive_int("model.hidden_size", config.model.hidden_size)
    options = config.model.options.to_dict()
    try:
        models.registry.validate_options(config.model.name, {"hidden_size": config.model.hidden_size, **options})
    except ValueError as e:
        raise ValueError(f"model.options: {e}") from None
    _positive_int("task.length", config.task.length)
    task = make_task(config)  # the task checks its own T and options
    for key in ("skip", "period", "period_base"):
        value = options.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= task.seq_len:
            raise ValueError(
                f"model.options.{key}={value} is invalid for task.length={config.task.length}: "
                f"the sequence has {task.seq_len} steps, so {key} must be smaller than that"
            )

    train = config.train
    _positive_int("train.steps", train.steps)
    _positive_int("train.batch_size", train.batch_size)
    _positive_int("train.seed", train.seed, minimum=0)
    _positive_int("train.num_seeds", train.num_seeds)
    _positive_int("train.steps_per_dispatch", train.steps_per_dispatch)
    _positive_int("train.replica_batch_size", train.replica_batch_size)
    _choice("train.replica_execution", train.replica_execution, REPLICA_EXECUTION)
    hparams = parse_hparams(config)
    for key, values in hparams.items():
        if key == "model.options.forget_bias" and "forget_bias" not in models.info(config.model.name).options:
            raise ValueError(
                f"train.hparams key {key!r}: model {config.model.name!r} has no forget_bias option; "
                f"valid options: {sorted(models.info(config.model.name).options)}"
            )
        for value in values:
            if key == "model.options.forget_bias":
                continue
            _positive(f"train.hparams[{key!r}] value", value, allow_zero=key == "optim.weight_decay")

    optim = config.optim
    _choice("optim.name", optim.name, OPTIMIZERS)
    _choice("optim.clip", optim.clip, CLIPS)
    _choice("optim.schedule", optim.schedule, SCHEDULES)
    _positive("optim.learning_rate", optim.learning_rate)
    if optim.clip != "none":
        _positive("optim.clip_value", optim.clip_value)
    _positive("optim.weight_decay", optim.weight_decay, allow_zero=True)
    _positive_int("optim.warmup_steps", optim.warmup_steps, minimum=0)
    _positive_int("optim.decay_steps", optim.decay_steps, minimum=0)
    _positive("optim.end_lr_fraction", optim.end_lr_fraction, allow_zero=True)
    _positive("optim.eps", optim.eps, allow_zero=True)
    for key in ("momentum", "b1", "b2", "decay"):
        value = optim[key]
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
            raise ValueError(f"optim.{key}={value!r} is invalid: it must lie in [0, 1)")
    _positive_int("optim.max_consecutive_nonfinite", optim.max_consecutive_nonfinite)

    _positive_int("checkpoint.every", config.checkpoint.every)
    _positive_int("checkpoint.keep", config.checkpoint.keep)
    _positive_int("eval.batch_size", config.eval.batch_size)
    _positive_int("eval.num_batches", config.eval.num_batches)
    _positive_int("snapshot.every", config.snapshot.every, minimum=0)
    _positive_int("mesh.replica", config.mesh.replica, minimum=0)
    _positive_int("mesh.data", config.mesh.data, minimum=0)


def make_task(config) -> tasks.Task:
    """The task of ``config`` (``task.name``, ``task.length``, ``task.options``)."""
    return tasks.create(config.task.name, length=config.task.length, **config.task.options.to_dict())


def make_model(config, **overrides: Any):
    """The model of ``config``; ``overrides`` replace entries of ``model.options``."""
    options = {**config.model.options.to_dict(), **overrides}
    return models.create(config.model.name, hidden_size=config.model.hidden_size, **options)


# --------------------------------------------------------------------------- workdir config


def flatten(config) -> dict[str, Any]:
    """``{"a.b.c": value}`` for every leaf of a (nested dict or ConfigDict) config."""
    tree = config.to_dict() if hasattr(config, "to_dict") else config
    flat: dict[str, Any] = {}

    def walk(node, prefix):
        for key, value in node.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict):
                walk(value, path + ".")
            else:
                flat[path] = list(value) if isinstance(value, tuple) else value

    walk(tree, "")
    return flat


def differences(saved: dict[str, Any], config) -> list[str]:
    """Dotted keys whose values differ between a saved (flat) config and ``config``,
    ignoring `RESUMABLE_CHANGES`; each entry reads ``"key: saved -> new"``."""
    new = flatten(config)
    out = []
    for key in sorted(set(saved) | set(new)):
        if key in RESUMABLE_CHANGES:
            continue
        old_value, new_value = saved.get(key, "<absent>"), new.get(key, "<absent>")
        if old_value != new_value:
            out.append(f"{key}: {old_value!r} -> {new_value!r}")
    return out
