"""The seqgrad model zoo: every architecture as a functional `flax.linen` Module.

Public API: `available()`, `create(name, *, hidden_size, **options)`, `info(name)`.
Importing this package registers every architecture module listed below.
"""

from seqgrad.models.registry import Architecture, available, create, info, register

# Each import registers its architecture(s).
from seqgrad.models import rnn  # noqa: E402,F401  isort: skip
from seqgrad.models import lstm  # noqa: E402,F401  isort: skip
from seqgrad.models import gru  # noqa: E402,F401  isort: skip
from seqgrad.models import residual_rnn  # noqa: E402,F401  isort: skip
from seqgrad.models import skip_rnn  # noqa: E402,F401  isort: skip
from seqgrad.models import multiscale_rnn  # noqa: E402,F401  isort: skip
from seqgrad.models import orthogonal_rnn  # noqa: E402,F401  isort: skip
from seqgrad.models import lru  # noqa: E402,F401  isort: skip
from seqgrad.models import mingru  # noqa: E402,F401  isort: skip
from seqgrad.models import attention_rnn  # noqa: E402,F401  isort: skip
from seqgrad.models import transformer  # noqa: E402,F401  isort: skip
from seqgrad.models import dilated_conv  # noqa: E402,F401  isort: skip

__all__ = ["Architecture", "available", "create", "info", "register"]
