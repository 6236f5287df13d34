"""Hand-written reverse mode (a `jax.custom_vjp`) for recurrent cells, and the rule that selects it.

JAX's automatic reverse mode of a `lax.scan` is exact but, on the CPU, turns
each backward step into many small kernels. A `Cell` declares its equations once,
as a step, plus a hand-written backward; this module runs them:

* the generic path: `recurrence.scan` over the cell's step under JAX's autodiff
  (perturbations, truncation, Lyapunov tangents, forward mode all work);
* the hand-written VJP (`layer`): the same step in a `lax.fori_loop` whose
  backward is ``cell.backward``. The input projections of all steps are GEMMs
  outside the loop, one ``[T, B, H]`` array per gate (a static slice of a
  per-step slice of a ``[T, B, G·H]`` array compiles to slow element-wise code on
  XLA's CPU backend); the values the step saves for the backward overwrite that
  step's (dead) gate inputs in place (a fresh output would be a zero-filled
  buffer), and the backward is one reverse loop followed by single GEMMs over
  the ``N = T·B`` rows for the weight gradients (`parameter_gradients`).

Both compute the same numbers (tests compare them in float64 to 1e-10, for every
model and option value). Reverse mode of any order works through the
hand-written VJP; forward mode (`jax.jvp`, `jax.jacfwd`) raises (custom_vjp).

Which one runs is decided by `selected`, once per model call, for every layer
of the stack: the hand-written VJP when the model has a cell with one (`rnn`,
`lstm`, `gru`), its option ``fused`` is True (the default), and the call has no
perturbation, no truncation, no Lyapunov request and site ``"hidden"``.
So plain calls (training, `gradflow.input_jacobians`, the attribution's full
gradient) use it in every layer; `gradflow.state_jacobians`, truncated
gradients and `gradflow.lyapunov_exponents` run the generic scan in every layer.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from seqgrad.models import recurrence

Array = jax.Array
Params = tuple[Array, ...]

# dot_general dimension numbers contracting the leading (row) axis of both operands: aᵀ b.
ROW_CONTRACTION = (((0,), (0,)), ((), ()))


@dataclasses.dataclass(frozen=True)
class Cell:
    """A recurrent cell: its equations once, and the hand-written backward of them.

    Attributes:
      prepare: ``raw params -> params`` (e.g. the ½ of σ(z) = ½·tanh(z/2) + ½ folded
        into weight copies); differentiated by autodiff on both paths.
      project: ``(params, x [T, B, D]) -> inputs``, a tuple of ``[T, B, H]`` gate inputs.
      step: ``(params, carry, inputs_t) -> (carry, saved_t)``, the cell's equations.
        ``carry`` is a dict of ``[B, H]``; ``saved_t`` a tuple of ``[B, H]`` whose first
        ``len(inputs_t)`` entries overwrite the step's inputs and the rest fill
        ``extra`` fresh sequences.
      backward: ``(params, x, saved, dh, unroll) -> (∂params, ∂x)`` with ``saved`` the
        tuple of ``[T, B, H]`` sequences and ``dh = ∂L/∂h``: ``[T, B, H]``.
      carry: names of the carry entries (all ``[B, H]``, starting at 0).
      output: index of ``h_t`` in ``saved_t``.
      extra: number of saved sequences beyond the inputs.
      in_place: write ``saved_t`` over the inputs in a `lax.fori_loop` (True) or
        emit it from a `lax.scan` (False: measured faster for the one-gate Elman cell).
    """

    prepare: Callable[[Params], Params]
    project: Callable[[Params, Array], tuple[Array, ...]]
    step: Callable[[Params, dict[str, Array], tuple[Array, ...]], tuple[dict[str, Array], tuple[Array, ...]]]
    backward: Callable[..., tuple[Params, Array]]
    carry: tuple[str, ...] = ("h",)
    output: int = 0
    extra: int = 0
    in_place: bool = True


def selected(model: Any, perturbation: Any, truncate: Any, site: str) -> bool:
    """The one dispatch rule: does this call of ``model`` run the hand-written VJP?

    True iff the model has a hand-written VJP (option ``fused``) and it is on, and
    the call has no perturbation (hence no Lyapunov request), no truncation and
    site ``"hidden"`` (the hand-written layers return only ``h``).
    """
    return bool(getattr(model, "fused", False)) and perturbation is None and truncate is None and site == "hidden"


def uses_handwritten_vjp(model: Any) -> bool:
    """Whether a plain ``model.apply(params, x)`` (and its gradient) runs the hand-written VJP."""
    return selected(model, None, None, "hidden")


def implementation(model: Any) -> str:
    """``"hand-written VJP"`` or ``"autodiff"``: what a plain call of ``model`` is differentiated by."""
    return "hand-written VJP" if uses_handwritten_vjp(model) else "autodiff"


def _forward(cell: Cell, params: Params, x: Array, unroll: int) -> tuple[Array, ...]:
    """Runs the cell over ``x: [T, B, D]``; returns the saved ``[T, B, H]`` sequences."""
    buffers = cell.project(params, x)
    T, B, H = buffers[0].shape
    carry = {name: jnp.zeros((B, H), x.dtype) for name in cell.carry}
    if not cell.in_place:
        return lax.scan(lambda c, u: cell.step(params, c, u), carry, buffers, unroll=unroll)[1]
    extras = tuple(jnp.zeros((T, B, H), x.dtype) for _ in range(cell.extra))

    def body(t, state):
        carry, buffers, extras = state
        inputs_t = tuple(lax.dynamic_index_in_dim(buf, t, keepdims=False) for buf in buffers)
        carry, saved = cell.step(params, carry, inputs_t)
        n = len(buffers)
        buffers = tuple(lax.dynamic_update_index_in_dim(buf, v, t, 0) for buf, v in zip(buffers, saved[:n]))
        extras = tuple(lax.dynamic_update_index_in_dim(buf, v, t, 0) for buf, v in zip(extras, saved[n:]))
        return carry, buffers, extras

    _, buffers, extras = lax.fori_loop(0, T, body, (carry, buffers, extras), unroll=unroll)
    return (*buffers, *extras)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 3))
def layer(cell: Cell, params: Params, x: Array, unroll: int = 1) -> Array:
    """``x: [T, B, D] -> h: [T, B, H]`` (time-major) with ``cell.backward`` as its VJP."""
    return _forward(cell, params, x, unroll)[cell.output]


def _layer_fwd(cell, params, x, unroll):
    saved = _forward(cell, params, x, unroll)
    return saved[cell.output], (params, x, saved)


def _layer_bwd(cell, unroll, residuals, dh):
    params, x, saved = residuals
    return cell.backward(params, x, saved, dh, unroll)


layer.defvjp(_layer_fwd, _layer_bwd)


def run(
    cell: Cell,
    raw_params: Params,
    x: Array,
    *,
    handwritten: bool,
    perturbation: Any = None,
    site: str = "h",
    emit: tuple[str, ...] = ("h",),
    truncate: int | Array | None = None,
    unroll: int = 1,
) -> dict[str, Array]:
    """One layer of ``cell`` over ``x: [B, T, D]``: ``{name: [B, T, H] for name in emit}``.

    ``handwritten`` (the layer's ``fused`` field, set by the model from `selected`)
    picks the hand-written VJP; otherwise, or whenever the call needs the generic
    scan (`selected`'s conditions), it runs `recurrence.scan` over ``cell.step``.
    """
    params = cell.prepare(raw_params)
    if emit == ("h",) and selected(_On(handwritten), perturbation, truncate, "hidden"):
        h = layer(cell, params, recurrence.time_major(x), unroll)
        return {"h": recurrence.batch_major(h)}
    inputs = cell.project(params, recurrence.time_major(x))
    carry = {name: jnp.zeros((x.shape[0], inputs[0].shape[-1]), x.dtype) for name in cell.carry}
    return recurrence.scan_layer(
        lambda c, u: cell.step(params, c, u)[0],
        carry,
        inputs,
        perturbation=perturbation,
        site=site,
        truncate=truncate,
        unroll=unroll,
        emit=emit,
    )


@dataclasses.dataclass(frozen=True)
class _On:
    """Adapter so that `selected` also decides for a single layer."""

    fused: bool


def shift_down(seq: Array) -> Array:
    """``[T, B, H] -> [T, B, H]``: ``out[0] = 0``, ``out[t] = seq[t-1]`` (the carry entering step t)."""
    return jnp.concatenate([jnp.zeros_like(seq[:1]), seq[:-1]], axis=0)


def parameter_gradients(hs: Array, x: Array, dz: Array) -> tuple[Array, Array, Array]:
    """One GEMM for ``(∂L/∂W, ∂L/∂U, ∂L/∂b)`` of ``z_t = h_{t-1} W + x_t U + b``, given ``dz_t = ∂L/∂z_t``.

    Args:
      hs: ``[T, B, H]`` states ``h_0..h_{T-1}`` (``h_{-1} = 0``); x: ``[T, B, D]``;
      dz: ``[T, B, G]``.

    Returns:
      ``([H, G], [D, G], [G])``: with ``v_t = [h_{t-1}, x_t, 1]`` (``[B, H + D + 1]``),
      ``Σ_t v_tᵀ dz_t`` over all ``N = T·B`` rows, split by rows. One GEMM reads ``dz``
      once, instead of two GEMMs and a reduction (measured 20 vs 26 ms at T = 500,
      B = 32, H = 128, G = 4H).
    """
    H, D = hs.shape[-1], x.shape[-1]
    rows = jnp.concatenate([shift_down(hs), x, jnp.ones_like(x[..., :1])], axis=-1)
    gram = lax.dot_general(rows.reshape(-1, H + D + 1), dz.reshape(-1, dz.shape[-1]), ROW_CONTRACTION)
    return gram[:H], gram[H : H + D], gram[H + D]


def gate_blocks(array: Array, hidden_size: int, count: int) -> list[Array]:
    """Splits the last axis ``count·H`` of ``array`` into ``count`` gate blocks of ``H``."""
    return [array[..., g * hidden_size : (g + 1) * hidden_size] for g in range(count)]
