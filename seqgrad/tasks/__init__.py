"""Long-range-dependency tasks, generated on the device from a PRNG key.

Public API: `available()`, `create(name, length=T, **options)`, `options(name)`,
the `Task` interface, and the linear `readout`. Importing this package registers
``adding``, ``copy``, ``delayed_recall`` and ``digits``.
"""

from seqgrad.tasks.registry import Task, available, create, init_readout, options, readout, register

from seqgrad.tasks import adding, copy, delayed_recall, digits  # noqa: E402,F401  isort: skip

__all__ = ["Task", "available", "create", "init_readout", "options", "readout", "register"]
