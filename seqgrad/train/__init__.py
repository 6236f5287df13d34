"""Training on long-range tasks: config schema, optax chains, the resumable loop.

Public API: `base_config()`, `validate(config)`, `train_and_evaluate(config, workdir)`,
`make_optimizer(optim, total_steps)`, the errors `TrainingError`, `ConfigMismatch`,
`Diverged`, `Interrupted`, `WorkdirBusy`, `WorkdirError` (exit codes: `seqgrad.train.errors`).
"""

from seqgrad.train.config import base_config, set_model, set_task
from seqgrad.train.errors import ConfigMismatch, Diverged, Interrupted, TrainingError, WorkdirBusy, WorkdirError
from seqgrad.train.hparams import replica_config, replicas
from seqgrad.train.loop import train_and_evaluate
from seqgrad.train.validation import validate
from seqgrad.train.optim import make_optimizer

__all__ = [
    "ConfigMismatch",
    "Diverged",
    "Interrupted",
    "TrainingError",
    "WorkdirBusy",
    "WorkdirError",
    "base_config",
    "make_optimizer",
    "replica_config",
    "replicas",
    "set_model",
    "set_task",
    "train_and_evaluate",
    "validate",
]
