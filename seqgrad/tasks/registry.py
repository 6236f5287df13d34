"""The task interface and the name -> task registry.

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
from collections.abc import Callable
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import optax

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
        """Masked mean loss of ``outputs [B, T, O]`` against ``targets [B, T]``."""
        return _masked_mean(self.per_step_loss(outputs, targets), mask)

    def per_step_loss(self, outputs: Array, targets: Array) -> Array:
        if self.kind == "regression":
            return (outputs[..., 0] - targets) ** 2
        return optax.softmax_cross_entropy_with_integer_labels(outputs, targets)

    def metrics(self, outputs: Array, targets: Array, mask: Array) -> dict[str, Array]:
        """``{"loss": ..., <metric>: ...}``: masked means over the batch."""
        loss = self.loss(outputs, targets, mask)
        if self.kind == "regression":
            return {"loss": loss, "mse": loss}
        correct = (jnp.argmax(outputs, axis=-1) == targets).astype(outputs.dtype)
        return {"loss": loss, "accuracy": _masked_mean(correct, mask)}


def _masked_mean(values: Array, mask: Array) -> Array:
    return jnp.sum(values * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def init_readout(key: Array, hidden_size: int, output_dim: int, dtype=jnp.float32) -> dict[str, Array]:
    """Parameters of the linear readout: ``kernel [H, O]`` (LeCun normal), ``bias [O]`` (zeros)."""
    kernel = jax.nn.initializers.lecun_normal()(key, (hidden_size, output_dim), dtype)
    return {"kernel": kernel, "bias": jnp.zeros((output_dim,), dtype)}


def readout(params: dict[str, Array], h: Array) -> Array:
    """``y = h W + b``: ``h [B, T, H] -> y [B, T, O]``."""
    return h @ params["kernel"] + params["bias"]


# --------------------------------------------------------------------------- registry

_REGISTRY: dict[str, Callable[..., Task]] = {}


def register(name: str):
    """Class decorator adding a `Task` subclass under ``name``."""

    def decorator(cls):
        if name in _REGISTRY:
            raise ValueError(f"task {name!r} is already registered")
        _REGISTRY[name] = cls
        return cls

    return decorator


def available() -> list[str]:
    """The registered task names, sorted."""
    return sorted(_REGISTRY)


def options(name: str) -> dict[str, Any]:
    """Option name -> default value of task ``name``."""
    cls = _check_name(name)
    return {f.name: f.default for f in dataclasses.fields(cls) if f.init}


def _check_name(name: str):
    if name not in _REGISTRY:
        raise ValueError(f"task.name={name!r} is unknown; valid choices: {available()}")
    return _REGISTRY[name]


def create(name: str, **kwargs: Any) -> Task:
    """Builds task ``name`` (e.g. ``create("adding", length=100)``).

    Raises:
      ValueError: unknown name or option, or an invalid value (the task's
        ``__post_init__`` checks them), naming the key and the valid choices.
    """
    cls = _check_name(name)
    valid = options(name)
    for key in kwargs:
        if key not in valid:
            raise ValueError(f"unknown option {key!r} for task {name!r}; valid options: {sorted(valid)}")
    return cls(**kwargs)


def check_int(key: str, value: Any, minimum: int, reason: str = "") -> None:
    """Raises `ValueError` unless ``value`` is an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        why = f" ({reason})" if reason else ""
        raise ValueError(f"{key}={value!r} is invalid: it must be an integer >= {minimum}{why}")
