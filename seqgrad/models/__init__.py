"""The seqgrad model zoo: every architecture as a functional `flax.linen` Module.

Public API: `available()`, `create(name, *, hidden_size, **options)`, `info(name)`,
`from_flax(cell)`, `from_nnx(module, cell=None)`, `from_step(step, params,
init_carry)`, `from_equinox(cell)`; `create` and `info` also take import strings
(``"flax:GRUCell"``, ``"package.module:Name"``, see `seqgrad.models.imported`).
Importing this package registers every architecture module listed below.
"""

from seqgrad.models.catalog import create, info
from seqgrad.models.registry import Architecture, available, register
from seqgrad.models.flax_cell import from_flax
from seqgrad.models.nnx_model import from_nnx
from seqgrad.models.step_model import from_step
from seqgrad.models.equinox_cell import from_equinox

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
from seqgrad.models import indrnn  # noqa: E402,F401  isort: skip
from seqgrad.models import rg_lru  # noqa: E402,F401  isort: skip
from seqgrad.models import s6  # noqa: E402,F401  isort: skip
from seqgrad.models import minlstm  # noqa: E402,F401  isort: skip
from seqgrad.models import slstm  # noqa: E402,F401  isort: skip
from seqgrad.models import mlstm  # noqa: E402,F401  isort: skip
from seqgrad.models import cornn  # noqa: E402,F401  isort: skip

__all__ = ["Architecture", "available", "create", "from_equinox", "from_flax", "from_nnx", "from_step", "info", "register"]
