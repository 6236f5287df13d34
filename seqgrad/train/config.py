"""The one config schema of a training run, its validation, and its replicas.

`base_config()` returns every key a run reads, with defaults; experiment files
(``experiments/<task>.py``) start from it, pick the architecture with
`set_model` and the task with `set_task`, change numbers, and lock it.
`validate(config)` (`seqgrad.train.validation`) checks everything before anything
is compiled and raises `ValueError` naming the key, the value and the valid choices.
Replicas (``train.num_seeds`` × ``train.hparams``) are `seqgrad.train.hparams`.

The model spec is ``model.name``, ``model.hidden_size``, ``model.options``
(`seqgrad.modelspec`). ``--config.model.name=<other>`` on an experiment file keeps
the first architecture's options in ``model.options``; those the new architecture
does not take are dropped with a logged note (`model_options`), while an option set
explicitly on the command line that the architecture does not take is an error
(`check_overrides`, called by the scripts with the command-line overrides).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import ml_collections

from seqgrad import configkeys, models, modelspec, tasks
from seqgrad.train import flossing

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
    "train.interrupt_grace_s",
    "train.memory_check",
    "mesh.replica",
    "mesh.data",
)


# Sections added to the schema later: a saved config without them ran with their defaults.
ADDED_SECTIONS = ("train.flossing.",)


class ModelOptions(ml_collections.ConfigDict):
    """``model.options``: stays open to new keys when the config is locked (its sub-dicts lock).

    ``--config.model.name=pkg.mod:Name --config.model.options.leak=0.3`` sets an
    option the experiment's own architecture lacks; `check_overrides` then refuses,
    in one line, any option the named architecture does not take.
    """

    def lock(self) -> ModelOptions:
        for value in self.values():
            if isinstance(value, ml_collections.ConfigDict):
                value.lock()
        return self


def base_config() -> ml_collections.ConfigDict:
    """Every key of a run, with defaults (an LSTM on the adding problem, T = 100)."""
    c = ml_collections.ConfigDict()

    c.model = ml_collections.ConfigDict()
    c.model.name = "lstm"
    c.model.hidden_size = 64
    c.model.options = ModelOptions()  # passed as **options to models.create

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
    c.train.interrupt_grace_s = 60.0  # after SIGTERM/SIGINT, exit anyway after this long (or on a second one)
    c.train.flossing = flossing.defaults()  # gradient flossing (Engelken 2023), off at weight 0
    c.train.memory_check = True  # refuse a config whose memory estimate exceeds the machine's (`seqgrad.train.resources`)

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
    config.model.options = ModelOptions(values)
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
    return value is models.registry.REQUIRED


def make_task(config) -> tasks.Task:
    """The task of ``config`` (``task.name``, ``task.length``, ``task.options``)."""
    return tasks.create(config.task.name, length=config.task.length, **config.task.options.to_dict())


def model_options(config) -> dict[str, Any]:
    """``model.options`` that architecture ``model.name`` takes (others are dropped)."""
    return modelspec.for_model(config.model.name, config.model.options.to_dict())


def make_model(config, **overrides: Any):
    """The model of ``config``; ``overrides`` replace entries of ``model.options``."""
    options = {**model_options(config), **overrides}
    return models.create(config.model.name, hidden_size=config.model.hidden_size, **options)


def check_overrides(config, overrides: Mapping[str, Any] | Iterable[str]) -> None:
    """Refuses an option set on purpose (a command-line ``--config.model.options.X`` or a
    sweep point's key) that architecture ``model.name`` does not take.

    Raises:
      ValueError: one line, naming the key, the value and the architecture's options.
    """
    prefix = "model.options."
    values = overrides if isinstance(overrides, Mapping) else {k: configkeys.get(config, k, None) for k in overrides}
    explicit = {k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix) and "." not in k[len(prefix):]}
    if explicit:
        modelspec.for_model(config.model.name, config.model.options.to_dict(), explicit=explicit)


def model_spec(spec, *, where: str = "model", hidden_size: int | None = None) -> modelspec.ModelSpec:
    """`seqgrad.modelspec.normalize`: ``{name | arch, hidden_size, options}`` as a `ModelSpec`."""
    return modelspec.normalize(spec, where=where, hidden_size=hidden_size)


# --------------------------------------------------------------------------- workdir config


def get(config, dotted: str) -> Any:
    """``config`` value at a dotted key (`seqgrad.configkeys.get`)."""
    return configkeys.get(config, dotted)


def flatten(config) -> dict[str, Any]:
    """``{"a.b.c": value}`` for every leaf of a (nested dict or ConfigDict) config."""
    return configkeys.flatten(config)


def differences(saved: dict[str, Any], config) -> list[str]:
    """Dotted keys whose values differ between a saved (flat) config and ``config``,
    ignoring `RESUMABLE_CHANGES` and the keys of `ADDED_SECTIONS` that the saved config lacks
    while ``config`` holds their defaults; each entry reads ``"key: saved -> new"``."""
    new = flatten(config)
    defaults = flatten(base_config())
    out = []
    for key in sorted(set(saved) | set(new)):
        if key in RESUMABLE_CHANGES or (key.startswith(ADDED_SECTIONS) and key not in saved
                                        and new[key] == defaults.get(key, "<absent>")):
            continue  # a key added to the schema after the run started, at its default: nothing changed
        old_value, new_value = saved.get(key, "<absent>"), new.get(key, "<absent>")
        if old_value != new_value:
            out.append(f"{key}: {old_value!r} -> {new_value!r}")
    return out
