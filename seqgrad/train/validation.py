"""`validate(config)`: every key a training run reads, checked before anything compiles.

Each failure is a one-line `ValueError` naming the key, the value and the valid
choices (`seqgrad.checks`). Model options the chosen architecture does not take
(left over after ``--config.model.name=...`` switched architecture) are dropped with
a logged note (`seqgrad.modelspec.for_model`); ones the user set on purpose are
refused by `seqgrad.train.config.check_overrides` at the command line.
"""

from __future__ import annotations

from seqgrad import checks, models, modelspec, tasks
from seqgrad.train import flossing
from seqgrad.train import hparams as hparams_lib

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop")
CLIPS = ("none", "value", "global_norm", "adaptive", "block_rms")
SCHEDULES = ("constant", "warmup_cosine")
REPLICA_EXECUTION = ("auto", "vmap", "map")


def validate(config) -> None:
    """Checks every key a run reads; raises `ValueError` naming key, value and valid choices.

    Runs before anything is built or compiled: unknown model/task/optimizer/clip
    names, non-positive or non-finite numbers, a T too short for the task or for
    ``skip``, bad replica settings.
    """
    _model_and_task(config)
    _train(config)
    _optim(config.optim)
    flossing.check(config)
    for key, minimum in (("checkpoint.every", 1), ("checkpoint.keep", 1), ("eval.batch_size", 1),
                         ("eval.num_batches", 1), ("snapshot.every", 0), ("mesh.replica", 0), ("mesh.data", 0)):
        section, name = key.split(".")
        checks.positive_int(key, config[section][name], minimum=minimum)
    checks.all_finite(config, "")  # NaN / inf in any key the checks above have no range for


def _model_and_task(config) -> None:
    if ":" not in config.model.name:
        checks.choice("model.name", config.model.name, models.available())
    else:
        try:  # an import string ("flax:GRUCell", "package.module:Name")
            models.info(config.model.name)
        except ValueError as e:
            raise ValueError(f"model.name={config.model.name!r}: {e}") from None
    checks.choice("task.name", config.task.name, tasks.available())
    checks.positive_int("model.hidden_size", config.model.hidden_size)
    options = modelspec.for_model(config.model.name, config.model.options.to_dict(), note=True)
    checks.model_options(options, "model.options")
    try:
        models.catalog.validate_options(config.model.name, {"hidden_size": config.model.hidden_size, **options})
    except ValueError as e:
        raise ValueError(f"model.options: {e}") from None
    checks.positive_int("task.length", config.task.length)
    task = tasks.create(config.task.name, length=config.task.length, **config.task.options.to_dict())
    for key in ("skip", "period", "period_base"):
        value = options.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= task.seq_len:
            raise ValueError(
                f"model.options.{key}={value} is invalid for task.length={config.task.length}: "
                f"the sequence has {task.seq_len} steps, so {key} must be smaller than that"
            )


def _train(config) -> None:
    train = config.train
    for key, minimum in (("steps", 1), ("batch_size", 1), ("seed", 0), ("num_seeds", 1),
                         ("steps_per_dispatch", 1), ("replica_batch_size", 1)):
        checks.positive_int(f"train.{key}", train[key], minimum=minimum)
    checks.choice("train.replica_execution", train.replica_execution, REPLICA_EXECUTION)
    for key, values in hparams_lib.parse_hparams(config).items():
        if key == "model.options.forget_bias":
            if "forget_bias" not in models.info(config.model.name).options:
                raise ValueError(
                    f"train.hparams key {key!r}: model {config.model.name!r} has no forget_bias option; "
                    f"valid options: {sorted(models.info(config.model.name).options)}"
                )
            for value in values:
                checks.finite(f"train.hparams[{key!r}] value", value)
            continue
        for value in values:
            checks.positive(f"train.hparams[{key!r}] value", value, allow_zero=key == "optim.weight_decay")
    grace = train.get("interrupt_grace_s", 60.0)
    checks.positive("train.interrupt_grace_s", grace)


def _optim(optim) -> None:
    checks.choice("optim.name", optim.name, OPTIMIZERS)
    checks.choice("optim.clip", optim.clip, CLIPS)
    checks.choice("optim.schedule", optim.schedule, SCHEDULES)
    checks.positive("optim.learning_rate", optim.learning_rate)
    if optim.clip != "none":
        checks.positive("optim.clip_value", optim.clip_value)
    checks.positive("optim.weight_decay", optim.weight_decay, allow_zero=True)
    checks.positive_int("optim.warmup_steps", optim.warmup_steps, minimum=0)
    checks.positive_int("optim.decay_steps", optim.decay_steps, minimum=0)
    checks.fraction("optim.end_lr_fraction", optim.end_lr_fraction, closed=True, reason="final lr / peak lr")
    checks.positive("optim.eps", optim.eps, allow_zero=True)
    for key in ("momentum", "b1", "b2", "decay"):
        checks.fraction(f"optim.{key}", optim[key])
    checks.positive_int("optim.max_consecutive_nonfinite", optim.max_consecutive_nonfinite)
