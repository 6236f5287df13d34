"""Flax NNX models in seqgrad: `from_nnx(module, *, cell=None)`.

    cell = nnx.GRUCell(D, H, rngs=nnx.Rngs(0))
    model, variables = models.from_nnx(cell)          # variables["params"]["cell"]: the cell's nnx.Param state
    h = model.apply(variables, x)                      # x: [B, T, D] -> h: [B, T, H], equal to nnx.RNN(cell)(x)
    J = gradflow.state_jacobians(model, variables, x[0])           # ∂h_{T−1}/∂h_t: [T, H, H]
    nnx.update(cell, variables["params"]["cell"])      # trained values back into the NNX cell

**A cell** (an `nnx.RNNCellBase`: ``nnx.LSTMCell``, ``nnx.OptimizedLSTMCell``,
``nnx.GRUCell``, ``nnx.SimpleCell`` or a user's own, ``cell(carry, x_t) ->
(carry', y_t)``) runs under the shared recurrence through the pure-function route
``nnx.split`` / ``nnx.merge`` (`seqgrad.models.step_model`): sites, perturbation,
truncation and Lyapunov exponents as for `seqgrad.models.from_flax` (``"hidden"``
is ``h``, the last leaf of every flax carry; ``"cell"`` is ``c`` of an LSTM's
``(c, h)``; ``"state"`` is ``[c, h]``). The initial carry is
``cell.initialize_carry`` (zeros for flax's cells). Flax's row-vector convention:
``SimpleCell`` computes ``h_t = φ(x_t U + b + h_{t−1} W)`` with ``W =
variables["params"]["cell"]["dense_h"]["kernel"]``, so a linear ``φ`` gives
``∂h_T/∂h_t = (Wᵀ)^(T−t)``.

**A whole model** (any `nnx.Module` called ``module(x) -> y`` with ``x: [B, T, D]``
and ``y: [B, T, O]``) with ``cell="path.to.cell"``, the attribute path of the
recurrent cell inside it (``"rnn.cell"`` for an ``nnx.RNN`` at ``module.rnn``): the
model's output is the module's; the cell is wrapped so that after every step
``δ_t`` is added to its new carry (``carry_t[site] ← carry_t[site] + δ_t``), the
same contract as the shared recurrence. ``gradflow.state_jacobians`` then gives
``∂y_{T−1}/∂h_t`` (``[T, O, n]``: the probe is the module's output, not a state),
the profiles and spectra follow, and Lyapunov exponents are those of the named
cell's recurrence along the inputs it received. The cell must be called once per
time step, in order, with its NNX state carried from step to step (``nnx.RNN``
does this, and so does a Python loop); the wrapper counts the steps in that state.
``variables["params"]["module"]`` is the module's `nnx.Param` state.

In both cases ``variables`` is a pytree of plain dicts (``State.to_pure_dict``),
so `model.apply`, every `seqgrad.gradflow` function and training take it, and
``nnx.update(module, variables["params"][key])`` puts trained values back.

By name (`seqgrad.models.imported`): ``"nnx:flax.nnx:GRUCell"`` or
``"nnx:package.module:Name"`` builds ``Name(in_features=D, hidden_features=H,
rngs=nnx.Rngs(key), **options)`` once the input width D is known (`nnx_cell`).
"""

from __future__ import annotations

from typing import Any

import jax
from flax import nnx

from seqgrad.models import step_model
from seqgrad.models.step_model import Recurrence, StepModel

Array = jax.Array


def _split(module: nnx.Module):
    """``(graphdef, params as plain dicts, the other state)`` of ``module``."""
    graphdef, params, rest = nnx.split(module, nnx.Param, ...)
    return graphdef, nnx.to_pure_dict(params), rest


def _cell_recurrence(cell: nnx.RNNCellBase, input_width: int, init=None) -> Recurrence:
    """The `Recurrence` of an NNX cell on one example (``x_t: [D]``); ``init`` defaults to the cell's own values."""
    graphdef, params, rest = _split(cell)

    def step(p, carry, x_t):
        return nnx.merge(graphdef, p, rest)(carry, x_t)

    with jax.ensure_compile_time_eval():  # the carry is a constant of every trace that uses it
        carry = cell.initialize_carry((input_width,), rngs=nnx.Rngs(0))
    return Recurrence(step=step, init=init or (lambda key: params), carry=carry)


def _check_cell(cell) -> None:
    if not isinstance(cell, nnx.RNNCellBase):
        raise ValueError(f"from_nnx takes an nnx.RNNCellBase (or a module with cell='path.to.cell'); got {type(cell).__name__}")
    if cell.num_feature_axes != 1:
        raise ValueError(f"cell {type(cell).__name__} has {cell.num_feature_axes} feature axes; "
                         "from_nnx takes cells over vectors (num_feature_axes = 1)")


def from_nnx(module: nnx.Module, *, cell: str | None = None, unroll: int = 1):
    """A Flax NNX cell, or a whole NNX model with its recurrent cell named, as a seqgrad model.

    Args:
      module: an `nnx.RNNCellBase` (``cell=None``), or any `nnx.Module` mapping
        ``x: [B, T, D]`` to ``y: [B, T, O]`` whose recurrent cell sits at attribute
        path ``cell``.
      cell: the attribute path of the cell inside ``module`` (e.g. ``"rnn.cell"``), or None.
      unroll: `jax.lax.scan` unroll factor (cell only).

    Returns:
      ``(model, variables)``; see the module docstring. ``model.init`` returns the
      module's current parameters whatever the key.

    Raises:
      ValueError: ``module`` is not a cell (``cell=None``), or ``cell`` names no cell inside it.
    """
    if cell is not None:
        from seqgrad.models import nnx_whole  # noqa: PLC0415  (the whole-model wrapper)

        return nnx_whole.from_module(module, cell)
    _check_cell(module)
    width = getattr(module, "in_features", 1)
    carry = _cell_recurrence(module, width).carry
    model = step_model.build(lambda d: _cell_recurrence(module, d), carry, unroll=unroll, where="from_nnx")
    return model, {"params": {"cell": _split(module)[1]}}


def nnx_cell(factory, *, hidden_size: int, unroll: int = 1, **options: Any) -> StepModel:
    """The model of a cell class or factory built as ``factory(in_features=D, hidden_features=H, rngs=..., **options)``.

    The cell is built once the input width D is known (at ``model.init`` or
    ``apply``); ``model.init(key, x)`` builds it with ``rngs=nnx.Rngs(key)``.
    """

    def make(d: int, rngs) -> nnx.RNNCellBase:
        return factory(in_features=d, hidden_features=hidden_size, rngs=rngs, **options)

    def recurrence_of(d: int) -> Recurrence:
        with jax.ensure_compile_time_eval():
            cell = make(d, nnx.Rngs(0))
        _check_cell(cell)
        return _cell_recurrence(cell, d, init=lambda key: _split(make(d, nnx.Rngs(key)))[1])

    return step_model.build(recurrence_of, recurrence_of(1).carry, unroll=unroll,
                            where=getattr(factory, "__qualname__", repr(factory)))
