"""Any equinox cell as a seqgrad model: `from_equinox(cell)` (``pip install -e '.[equinox]'``).

    cell = eqx.nn.GRUCell(D, H, key=jax.random.key(0))
    model, variables = models.from_equinox(cell)     # variables["params"]["cell"]: {"weight_hh": ..., ...}
    h = model.apply(variables, x)                     # x: [B, T, D] -> h: [B, T, H]
    J = gradflow.state_jacobians(model, variables, x[0])          # ∂h_{T−1}/∂h_t: [T, H, H]
    cell = equinox_cell.updated(cell, variables["params"]["cell"])  # trained values back into the cell

An equinox cell is unbatched and called ``cell(x_t, state) -> state`` (``x_t: [D]``;
``state`` an ``[H]`` vector for ``eqx.nn.GRUCell``, the pair ``(h, c)`` for
``eqx.nn.LSTMCell``). It runs under the shared recurrence
(`seqgrad.models.step_model`), vmapped over the batch: ``eqx.partition(cell,
eqx.is_inexact_array)`` splits it into the trained arrays (``variables["params"]
["cell"]``, the cell with its other fields None) and the rest, and every step is
``eqx.combine(params, rest)(x_t, state)``. The output ``y_t`` is the state's first
leaf (``h``), which is the ``"hidden"`` site; ``"cell"`` is ``c`` of an LSTM cell's
``(h, c)``, ``"state"`` the whole ``[h, c]``. The initial state is zeros shaped by
``cell.hidden_size`` (``(h, c)`` for ``eqx.nn.LSTMCell``) unless ``init_carry`` is given.

By name (`seqgrad.models.imported`): ``"eqx:package.module:Name"`` builds
``Name(input_size=D, hidden_size=H, key=key, **options)`` once D is known (`equinox_cell`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from seqgrad.models import step_model
from seqgrad.models.step_model import Recurrence, StepModel


def _equinox():
    try:
        import equinox  # noqa: PLC0415  (an optional dependency)
    except ImportError:
        raise ValueError("equinox is not installed: pip install -e '.[equinox]'") from None
    return equinox


def _zero_state(cell) -> Any:
    eqx = _equinox()
    width = getattr(cell, "hidden_size", None)
    if not isinstance(width, int):
        raise ValueError(f"from_equinox: {type(cell).__name__} has no integer hidden_size; pass init_carry=")
    zeros = jnp.zeros(width, _dtype(cell))
    return (zeros, zeros) if isinstance(cell, eqx.nn.LSTMCell) else zeros


def _dtype(cell):
    eqx = _equinox()
    floats = [leaf.dtype for leaf in jax.tree.leaves(eqx.filter(cell, eqx.is_inexact_array))]
    return jnp.result_type(*floats) if floats else jnp.float32


def _split(cell) -> tuple[dict, Any, Any]:
    """``(params {"weight_hh": array, ...}, (their tree, their keys in tree order), the rest)``."""
    eqx = _equinox()
    arrays, rest = eqx.partition(cell, eqx.is_inexact_array)
    flat, treedef = jax.tree_util.tree_flatten_with_path(arrays)
    keys = [jax.tree_util.keystr(path, simple=True, separator=".") for path, _ in flat]
    return dict(zip(keys, (leaf for _, leaf in flat))), (treedef, keys), rest


def _combine(params: dict, tree, rest):
    treedef, keys = tree  # a dict's order does not survive pytree operations: keys keep the tree's
    return _equinox().combine(jax.tree.unflatten(treedef, [params[k] for k in keys]), rest)


def updated(cell, params: dict):
    """``cell`` with the trained ``params`` (``variables["params"]["cell"]``) in place of its arrays."""
    _, tree, rest = _split(cell)
    return _combine(params, tree, rest)


def _recurrence(cell, carry, init=None) -> Recurrence:
    params, tree, rest = _split(cell)

    def step(p, state, x_t):
        new = _combine(p, tree, rest)(x_t, state)
        return new, jax.tree.leaves(new)[0]

    return Recurrence(step=step, init=init or (lambda key: params), carry=carry)


def _check(cell) -> None:
    eqx = _equinox()
    if not isinstance(cell, eqx.Module) or not callable(cell):
        raise ValueError(f"from_equinox takes an equinox cell called cell(x_t, state); got {type(cell).__name__}")


def from_equinox(cell, *, init_carry: Any = None, unroll: int = 1):
    """A seqgrad model of the equinox cell ``cell(x_t, state) -> state`` (see the module docstring).

    Args:
      cell: an `equinox.Module` instance (``eqx.nn.GRUCell``, ``eqx.nn.LSTMCell``, or a user's).
      init_carry: the initial state, a pytree of vectors (default: zeros, see above).
      unroll: `jax.lax.scan` unroll factor.

    Returns:
      ``(model, variables)``; ``variables = {"params": {"cell": {field path: array}}}``.

    Raises:
      ValueError: equinox is missing, ``cell`` is not an equinox module, or its state is unknown.
    """
    _check(cell)
    carry = _zero_state(cell) if init_carry is None else jax.tree.map(jnp.asarray, init_carry)
    rec = _recurrence(cell, carry)
    model = step_model.build(lambda d: rec, carry, hidden=0, unroll=unroll, where="from_equinox")
    return model, {"params": {"cell": rec.init(None)}}


def equinox_cell(factory, *, hidden_size: int, unroll: int = 1, **options: Any) -> StepModel:
    """The model of an equinox cell class or factory built as ``factory(input_size=D, hidden_size=H, key=key, **options)``."""

    def make(d: int, key):
        cell = factory(input_size=d, hidden_size=hidden_size, key=key, **options)
        _check(cell)
        return cell

    def recurrence_of(d: int) -> Recurrence:
        with jax.ensure_compile_time_eval():
            cell = make(d, jax.random.key(0))
            carry = _zero_state(cell)
        return _recurrence(cell, carry, init=lambda key: _split(make(d, key))[0])

    return step_model.build(recurrence_of, recurrence_of(1).carry, hidden=0, unroll=unroll,
                            where=getattr(factory, "__qualname__", repr(factory)))
