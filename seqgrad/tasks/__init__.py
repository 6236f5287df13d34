"""Long-range-dependency tasks, generated on the device from a PRNG key.

Public API: `available()`, `create(name, length=T, **options)`, `options(name)`,
the `Task` interface, and the linear `readout`. Importing this package registers
``adding``, ``copy``, ``delayed_recall``, ``digits``, ``selective_copy``,
``associative_recall`` and ``mnist1d``.
"""

from seqgrad.tasks.linear_readout import init_readout, readout
from seqgrad.tasks.base import Task
from seqgrad.tasks.registry import available, create, options, register

from seqgrad.tasks import adding, copy, delayed_recall, digits  # noqa: E402,F401  isort: skip
from seqgrad.tasks import associative_recall, mnist1d, selective_copy  # noqa: E402,F401  isort: skip

__all__ = ["Task", "available", "create", "init_readout", "options", "readout", "register"]
