"""The name -> task registry.

`register(name)` is the class decorator of a task module (``seqgrad/tasks/<name>.py``);
`available()`, `options(name)` and `create(name, length=T, **options)` look tasks up.
The task interface is `seqgrad.tasks.base.Task`, the losses `seqgrad.tasks.losses`,
the linear read-out `seqgrad.tasks.linear_readout`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from seqgrad.tasks.base import Task

__all__ = ["available", "create", "options", "register"]

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
