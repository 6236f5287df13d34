"""Any pure recurrence step as a seqgrad model: `from_step(step, params, init_carry)`.

    def step(params, carry, x_t):                # ONE example: x_t [D], carry a pytree of vectors
        h = (1 - a) * carry + a * jnp.tanh(carry @ params["W"] + x_t @ params["U"])
        return h, h                              # (carry', y_t)

    model, variables = models.from_step(step, params, jnp.zeros(H))
    y = model.apply(variables, x)                # x: [B, T, D] -> y: [B, T, O] (vmapped over B)
    J = gradflow.state_jacobians(model, variables, x[0])         # ∂h_{T−1}/∂h_t: [T, H, H]

The step runs under the shared recurrence (`seqgrad.models.recurrence.scan`),
vmapped over the batch, so the state perturbation, truncated BPTT and the
Lyapunov tangent frames apply to it unchanged, and every `seqgrad.gradflow`
measure and the training loop take the model. ``variables`` is
``{"params": {"cell": params}}``: ``params`` is trained as it is, any pytree.

This module is also the engine behind `seqgrad.models.from_nnx` (a Flax NNX
cell, ``params`` its `nnx.Param` state) and `seqgrad.models.from_equinox` (an
equinox cell, ``params`` its inexact arrays): each turns its cell into a
`Recurrence`, a step on one example, its initial parameters and carry.

Sites are the carry's leaves, named as `seqgrad.models.from_flax` names them:
``"hidden"`` is the hidden leaf (the last leaf unless the constructor says
otherwise: ``from_step(..., hidden=i)``; equinox's ``(h, c)`` has it first),
``"cell"`` the other leaf of a two-leaf carry, ``"carry_i"`` the i-th leaf of a
longer one, and ``"state"`` all leaves concatenated in carry order. A
perturbation ``δ: [B, T, n]`` (``n = model.site_size(site)``) enters that entry
after every step: ``carry_t[site] ← carry_t[site] + δ_t``, so
``∂probe_{T−1}/∂δ_t`` is the square Jacobian ``∂s_{T−1}/∂s_t`` of that entry.
Lyapunov exponents are those of the whole carry.

The output ``y_t`` is the carry leaf the step returns as its output when it
returns one (``h`` for every flax and equinox cell, the perturbed value), else
``y_t = step(params, s_{t−1}, x_t)[1]`` evaluated for all t after the scan.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from seqgrad.models import recurrence
from seqgrad.models.base import RecurrentModel

Array = jax.Array
# ``(params, carry, x_t) -> (carry', y_t)`` on one example (no batch axis).
Step = Callable[[Any, Any, Array], tuple[Any, Array]]


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity: a static argument of `jax.jit`
class Recurrence:
    """One recurrence on one example: what `StepModel` runs over time and over the batch.

    Attributes:
      step: ``(params, carry, x_t [D]) -> (carry', y_t)``.
      init: ``key -> params``, the parameters `StepModel.init` creates.
      carry: the initial carry (a pytree of vectors, concrete arrays).
    """

    step: Step
    init: Callable[[Array], Any]
    carry: Any


def site_names(num_leaves: int, hidden: int) -> tuple[str, ...]:
    """Names of the carry leaves: ``"hidden"`` at index ``hidden``; ``"cell"`` or ``"carry_i"`` for the others."""
    hidden = hidden % num_leaves
    if num_leaves == 2:
        return tuple("hidden" if i == hidden else "cell" for i in range(2))
    return tuple("hidden" if i == hidden else f"carry_{i}" for i in range(num_leaves))


def carry_sizes(carry: Any, where: str) -> tuple[int, ...]:
    """Widths of the carry's leaves; `ValueError` unless every leaf is a vector ``[n]``."""
    leaves = jax.tree.leaves(carry)
    if not leaves or any(jnp.ndim(leaf) != 1 for leaf in leaves):
        shapes = [tuple(jnp.shape(leaf)) for leaf in leaves]
        raise ValueError(f"{where}: the initial carry must be a non-empty pytree of vectors [n]; got leaf shapes {shapes}")
    return tuple(int(jnp.shape(leaf)[0]) for leaf in leaves)


class StepModel(RecurrentModel):
    """A one-example recurrence run by the shared scan: ``x: [B, T, D] -> y: [B, T, O]``.

    Use `from_step`, `from_nnx` or `from_equinox`. ``recurrence`` maps the input
    width D to the `Recurrence` (cached per D); ``carry_sizes`` and ``hidden``
    fix the sites without building it (see the module docstring). The parameters
    sit at ``params["params"]["cell"]``.
    """

    recurrence: Callable[[int], Recurrence] | None = None
    carry_sizes: tuple[int, ...] = ()
    hidden: int = -1
    unroll: int = 1

    @property
    def sites(self) -> tuple[str, ...]:
        names = site_names(len(self.carry_sizes), self.hidden)
        return names + (("state",) if len(names) > 1 else ())

    def site_size(self, site: str) -> int:
        """Length of the perturbation vector at ``site`` (its leaf's width, or the carry's for ``"state"``)."""
        names = site_names(len(self.carry_sizes), self.hidden)
        return sum(self.carry_sizes) if site == "state" else self.carry_sizes[names.index(site)]

    def make_layer(self, index: int, **overrides):
        """The one layer: the recurrence itself."""
        if index or self.num_layers != 1:
            raise ValueError(f"num_layers={self.num_layers!r} is invalid for a wrapped step: it must be 1")
        return self._layer

    def _layer(self, x, perturbation=None, site="hidden", truncate=None):
        rec = self.recurrence(x.shape[-1])
        params = self.param("cell", rec.init)
        floats = [leaf for leaf in jax.tree.leaves(params) if jnp.issubdtype(leaf.dtype, jnp.inexact)]
        dtype = jnp.result_type(x.dtype, *floats)
        names = site_names(len(self.carry_sizes), self.hidden)
        leaves, treedef = jax.tree.flatten(rec.carry)

        def one(state, x_t):
            """The step on one example's dict carry: ``{name: [n]} -> (carry', y)``."""
            return rec.step(params, jax.tree.unflatten(treedef, [state[n] for n in names]), x_t)

        def step(state, x_t):  # state {name: [B, n]}, x_t [B, D]
            new = jax.vmap(lambda s, xt: one(s, xt)[0])(state, x_t)
            return dict(zip(names, (leaf.astype(dtype) for leaf in jax.tree.leaves(new))))

        batch = x.shape[0]
        state0 = {n: jnp.broadcast_to(jnp.asarray(leaf, dtype), (batch, leaf.shape[-1])) for n, leaf in zip(names, leaves)}
        inputs = recurrence.time_major(x)  # [T, B, D]
        keys = names if site == "state" else (site,)
        out = recurrence.scan_layer(
            step, state0, inputs, perturbation=perturbation, site=keys, truncate=truncate, unroll=self.unroll, emit=names
        )
        probe = jnp.concatenate([out[n] for n in keys], axis=-1)
        leaf = output_leaf(one, jax.tree.map(lambda a: a[0], state0), inputs[0, 0], names)
        if leaf is not None:
            return out[leaf], probe
        return recomputed_outputs(jax.vmap(lambda s, x_t: one(s, x_t)[1]), state0, out, inputs, names), probe


def output_leaf(apply: Callable, state: dict, x_t: Array, names: tuple[str, ...]) -> str | None:
    """The carry entry that ``apply(state, x_t) -> (carry', y)`` returns as its output ``y``, or None."""
    found = []

    def which(state, x_t):
        new, y = apply(state, x_t)
        found.extend(n for n, leaf in zip(names, jax.tree.leaves(new)) if leaf is y)
        return y

    jax.eval_shape(which, state, x_t)
    return found[0] if found else None


def recomputed_outputs(apply_y: Callable, state0: dict, out: dict, inputs: Array, names: tuple[str, ...]) -> Array:
    """``y_t = apply_y(s_{t−1}, x_t)`` for all t from the emitted states ``out`` (``[B, T, ...]``): ``[B, T, O]``."""
    states = {n: recurrence.time_major(out[n]) for n in names}  # [T, B, ...]
    previous = {n: jnp.concatenate([state0[n][None], states[n][:-1]], axis=0) for n in names}
    return recurrence.batch_major(jax.vmap(apply_y)(previous, inputs))


def build(recurrence_of: Callable[[int], Recurrence], carry: Any, *, hidden: int = -1, unroll: int = 1,
          where: str = "from_step") -> StepModel:
    """A `StepModel` of ``recurrence_of`` (D -> `Recurrence`, cached here per D) whose initial carry is ``carry``."""
    sizes = carry_sizes(carry, where)
    if not -len(sizes) <= hidden < len(sizes):
        raise ValueError(f"{where}: hidden={hidden!r} is invalid: the carry has {len(sizes)} leaves")
    cached = functools.cache(recurrence_of)
    return StepModel(hidden_size=sizes[hidden], recurrence=cached, carry_sizes=sizes, hidden=hidden % len(sizes),
                     unroll=unroll)


def from_step(step: Step, params: Any, init_carry: Any, *, hidden: int = -1, unroll: int = 1):
    """A seqgrad model of the pure step ``step(params, carry, x_t) -> (carry', y_t)`` (see the module docstring).

    Args:
      step: the recurrence on ONE example (``x_t: [D]``); seqgrad vmaps it over the batch.
      params: its parameters, any pytree of arrays (what training updates).
      init_carry: the initial carry, a pytree of vectors (``[n]`` each).
      hidden: index of the carry leaf named ``"hidden"`` (default: the last).
      unroll: `jax.lax.scan` unroll factor.

    Returns:
      ``(model, variables)``: ``model.apply(variables, x)`` maps ``x: [B, T, D]`` to
      ``y: [B, T, O]``; ``variables = {"params": {"cell": params}}``.

    Raises:
      ValueError: ``step`` is not callable, or a carry leaf is not a vector.
    """
    if not callable(step):
        raise ValueError(f"from_step takes a callable step(params, carry, x_t) -> (carry, y_t); got {step!r}")
    carry = jax.tree.map(jnp.asarray, init_carry)
    rec = Recurrence(step=step, init=lambda key: params, carry=carry)
    model = build(lambda d: rec, carry, hidden=hidden, unroll=unroll)
    return model, {"params": {"cell": params}}
