"""Trained runs for analysis: parameters from a training workdir, and task-input Jacobian profiles.

`load(workdir)` reads the run's ``config.json`` (its model and task spec), rebuilds
the run's `Trainer`, and restores the newest checkpoint that restores (orbax,
`seqgrad.train.checkpoint.Checkpointer.latest`, which checks that the restored
step counter names the step). A missing ``config.json``, no checkpoint, or a
checkpoint that does not fit the config is a `ValueError` naming the workdir.

`input_profile(trainer, params, inputs)`: on the task's own sequences, the norm
of the readout's sensitivity to each input step,

    p_t = mean_b ‖∂ŷ_{b, T-1}/∂x_{b, t}‖_F        ([T]),

ŷ the model and readout output at the last step (the adding problem's answer:
the marked positions should dominate after training).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from seqgrad import jsonio
from seqgrad.train import checkpoint
from seqgrad.train.state import Trainer


@dataclasses.dataclass
class TrainedRun:
    """A restored run: ``params`` holds every replica (leading axis R, ``trainer.replicas``)."""

    workdir: str
    config: Any
    trainer: Trainer
    step: int
    params: Any
    eval: dict | None

    def replica(self, r: int = 0):
        """``{"model": ..., "readout": ...}`` of replica ``r``."""
        return jax.tree.map(lambda leaf: leaf[r], self.params)


def load(workdir: str) -> TrainedRun:
    """The newest restorable checkpoint of the run in ``workdir`` and its config."""
    spec = jsonio.read_json(os.path.join(workdir, "config.json"))
    if not isinstance(spec, dict):
        raise ValueError(f"workdir={workdir!r} is not a training workdir: no readable config.json")
    config = ml_collections.ConfigDict(spec)
    try:
        trainer = Trainer(config)
    except (ValueError, KeyError, AttributeError) as e:
        raise ValueError(f"workdir={workdir!r}: its config.json does not describe a run ({e})") from None
    manager = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"), keep=config.checkpoint.keep)
    try:
        restored = manager.latest(trainer.abstract_state())
    except ValueError as e:
        raise ValueError(f"workdir={workdir!r}: no checkpoint restores ({str(e).splitlines()[0]})") from None
    finally:
        manager.close()
    if restored is None:
        raise ValueError(f"workdir={workdir!r} holds no checkpoint")
    step, state = restored
    result = jsonio.read_json(os.path.join(workdir, "result.json"))
    evaluation = result.get("eval") if isinstance(result, dict) and result.get("step") == step else None
    return TrainedRun(os.path.abspath(workdir), config, trainer, int(step), state["params"], evaluation)


@functools.partial(jax.jit, static_argnames=("trainer",))
def _input_profile(trainer, params, inputs):
    def last_output(x):  # one sequence [T, D] -> ŷ_{T-1} [O]
        return trainer.apply(params, x[None])[0, -1]

    jac = jax.vmap(jax.jacrev(last_output))(inputs)  # [B, O, T, D]
    return jnp.sqrt(jnp.sum(jac**2, axis=(1, 3)))


def input_norms(trainer: Trainer, params, inputs) -> np.ndarray:
    """``‖∂ŷ_{b, T-1}/∂x_{b, t}‖_F`` per sequence: ``params`` of one replica, ``inputs [B, T, D] -> [B, T]``."""
    return np.asarray(_input_profile(trainer, params, inputs))


def input_profile(trainer: Trainer, params, inputs) -> np.ndarray:
    """``p_t = mean_b ‖∂ŷ_{T-1}/∂x_t‖_F``: ``[B, T, D] -> [T]``."""
    return input_norms(trainer, params, inputs).mean(axis=0)
