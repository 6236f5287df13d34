"""The task interface: what every task provides.

A task is a frozen dataclass holding its sizes and options. It generates its data
on the device from a PRNG key, with no loader and no download:

    inputs, targets, mask = task.batch(key, batch_size)
    # inputs [B, T, D] float32, targets [B, T] (float32 or int32), mask [B, T] float32

``task.length`` is the task's T; ``task.seq_len`` the number of steps the model
reads (T, or ``T + 20`` for ``copy``, whose T is the delay). ``mask`` marks the steps that enter the loss: the last step for
the "read out at the end" tasks, every step for ``copy``. A linear readout
``y = h W + b`` maps the model's ``h: [B, T, H]`` to ``[B, T, output_dim]``
(`readout`), and the task's loss and metric compare ``y`` with the targets on the
masked steps:

    regression:      loss = Σ m_t (y_t − target_t)² / Σ m_t                 metric "mse"
    classification:  loss = −Σ m_t log softmax(y_t)[target_t] / Σ m_t       metric "accuracy"

The training loop derives the key of step s as ``jax.random.fold_in(data_key, s)``,
so a batch is a pure function of (seed, step).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax

from seqgrad.tasks import losses

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class Task:
    """Base class: subclasses set ``name``, ``kind``, ``metric``, sizes and `batch`."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "regression"  # or "classification"
    metric: ClassVar[str] = "mse"  # or "accuracy"

    @property
    def seq_len(self) -> int:
        """The number of steps the model reads (``task.length`` = T, or ``T + 20`` for ``copy``)."""
        raise NotImplementedError

    @property
    def input_dim(self) -> int:
        raise NotImplementedError

    @property
    def output_dim(self) -> int:
        raise NotImplementedError

    def batch(self, key: Array, batch_size: int) -> tuple[Array, Array, Array]:
        """``(inputs [B, T, D], targets [B, T], mask [B, T])``, a pure function of ``key``."""
        raise NotImplementedError

    eval_is_fixed: ClassVar[bool] = False  # True: eval_batch returns a whole held-out split

    def eval_batch(self, key: Array, batch_size: int) -> tuple[Array, Array, Array]:
        """A batch for evaluation: fresh samples (held-out examples for data sets)."""
        return self.batch(key, batch_size)

    def baseline(self) -> dict[str, float]:
        """The chance-level scores (closed form), reported beside every result."""
        raise NotImplementedError

    # ---------------------------------------------------------------- loss and metric

    def loss(self, outputs: Array, targets: Array, mask: Array) -> Array:
        """Masked mean loss of ``outputs [B, T, O]`` against ``targets [B, T]`` (`seqgrad.tasks.losses`)."""
        return losses.loss(self.kind, outputs, targets, mask)

    def per_step_loss(self, outputs: Array, targets: Array) -> Array:
        """``[B, T]`` loss of every step, before masking."""
        return losses.per_step_loss(self.kind, outputs, targets)

    def metrics(self, outputs: Array, targets: Array, mask: Array) -> dict[str, Array]:
        """``{"loss": ..., <metric>: ...}``: masked means over the batch."""
        return losses.metrics(self.kind, outputs, targets, mask)
