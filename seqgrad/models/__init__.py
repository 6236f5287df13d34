"""The seqgrad model zoo: every architecture as a functional `flax.linen` Module.

Public API: `available()`, `create(name, *, hidden_size, **options)`, `info(name)`.
Importing this package registers every architecture module listed below.
"""

from seqgrad.models.registry import Architecture, available, create, info, register

# Each import registers its architecture(s).
from seqgrad.models import rnn  # noqa: E402,F401  isort: skip

__all__ = ["Architecture", "available", "create", "info", "register"]
