"""A whole Flax NNX model with its recurrent cell named: ``from_nnx(module, cell="rnn.cell")``.

    model, variables = models.from_nnx(net, cell="rnn.cell")     # net(x): [B, T, D] -> [B, T, O]
    y = model.apply(variables, x)                                 # equal to net(x)
    J = gradflow.state_jacobians(model, variables, x[0])          # ∂y_{T−1}/∂h_t: [T, O, H]

The module runs as it is (``nnx.merge`` of its graph and the parameters in
``variables["params"]["module"]``), with the named cell replaced by `_Perturbed`,
which calls the cell and then adds ``δ_t`` to its new carry at the site:
``carry_t[site] ← carry_t[site] + δ_t`` (``δ: [B, T, n]``, ``t`` counted in the
wrapper's own NNX state, so the cell must be called once per step, in order, with
its state carried: ``nnx.RNN``, a Python loop). When the cell's output is its
hidden carry leaf (every flax cell), the output carries the perturbation too, as
in the shared recurrence. The probe is the module's output ``y: [B, T, O]``, so
the Jacobians are ``∂y_{T−1}/∂δ_t`` (``probe_is_state`` is False).

``truncate=k`` stops the gradient of the cell's carry entering step ``T − k``.
A Lyapunov request runs the module once to record the inputs the cell receives,
then the cell's own recurrence over them under the shared scan, from the cell's
``initialize_carry``: the exponents are those of the named cell's recurrence
along the model's trajectory. `perturbation.SquaredNorms` requests are refused with
`perturbation.SquaredNormsUnsupported` (`seqgrad.gradflow.jacobian_profile` then
pulls back the perturbation itself); a `perturbation.Remat` block is ignored.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from seqgrad.models import recurrence, step_model, tangent_frame
from seqgrad.models.base import RecurrentModel
from seqgrad.models.perturbation import Remat, SquaredNorms, SquaredNormsUnsupported

Array = jax.Array


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity: a static argument of `jax.jit`
class _Held:
    """The module's graph, its parameters (plain dicts), its other state, and the cell's attribute path."""

    graphdef: Any
    params: Any
    rest: Any
    path: tuple[str, ...]


def _get(node, path: tuple[str, ...]):
    for part in path:
        node = node[int(part)] if part.isdigit() else getattr(node, part)
    return node


def _set(node, path: tuple[str, ...], value) -> None:
    parent = _get(node, path[:-1])
    if path[-1].isdigit():
        parent[int(path[-1])] = value
    else:
        setattr(parent, path[-1], value)


class _Perturbed(nnx.Module):
    """The named cell, then ``δ_t`` added to its new carry at the site's leaves; optionally records ``x_t``."""

    def __init__(self, cell, delta, leaves, truncate, length, record=None, tap=None):
        self.cell = cell
        self.leaves, self.length, self.tap = leaves, length, tap
        self.t = nnx.Variable(jnp.zeros((), jnp.int32))
        self.truncate = None if truncate is None else nnx.Variable(jnp.asarray(truncate))  # may be traced
        self.delta = None if delta is None else nnx.Variable(delta)  # [B, T, n]
        self.seen = None if record is None else nnx.Variable(jnp.zeros(record.shape, record.dtype))  # [T, B, D']

    @property
    def num_feature_axes(self) -> int:
        return self.cell.num_feature_axes

    def initialize_carry(self, *args, **kwargs):
        return self.cell.initialize_carry(*args, **kwargs)

    def __call__(self, carry, x_t):
        t = self.t[...]
        if self.truncate is not None:
            cut = t == self.length - self.truncate[...]
            carry = jax.tree.map(lambda c: jnp.where(cut, jax.lax.stop_gradient(c), c), carry)
        if self.tap is not None:
            self.tap(x_t)
        if self.seen is not None:
            self.seen[...] = self.seen[...].at[t].set(x_t.astype(self.seen[...].dtype))
        new, y = self.cell(carry, x_t)
        self.t[...] = t + 1
        if self.delta is None:
            return new, y
        leaves, treedef = jax.tree.flatten(new)
        delta_t = jnp.take(self.delta[...], t, axis=1)  # [B, n]
        start = 0
        for i in self.leaves:
            width = leaves[i].shape[-1]
            perturbed = leaves[i] + delta_t[..., start : start + width].astype(leaves[i].dtype)
            y = perturbed if leaves[i] is y else y
            leaves[i], start = perturbed, start + width
        return jax.tree.unflatten(treedef, leaves), y


class NNXModule(RecurrentModel):
    """A whole NNX model: ``x: [B, T, D] -> y: [B, T, O]``, its named cell's carry as the sites. Use `from_nnx`."""

    held: _Held | None = None
    carry_sizes: tuple[int, ...] = ()

    @property
    def sites(self) -> tuple[str, ...]:
        names = step_model.site_names(len(self.carry_sizes), -1)
        return names + (("state",) if len(names) > 1 else ())

    def site_size(self, site: str) -> int:
        """Width of the perturbation at ``site`` (the named cell's carry leaf, or its whole carry)."""
        names = step_model.site_names(len(self.carry_sizes), -1)
        return sum(self.carry_sizes) if site == "state" else self.carry_sizes[names.index(site)]

    def make_layer(self, index: int, **overrides):
        """The one layer: the module itself."""
        if index or self.num_layers != 1:
            raise ValueError(f"num_layers={self.num_layers!r} is invalid for a wrapped NNX module: it must be 1")
        return self._layer

    def _run(self, params, x, delta, leaves, truncate, **record):
        """``(module(x), the wrapper after the call)`` with the cell wrapped (``record``: see `_Perturbed`)."""
        held = self.held
        module = nnx.merge(held.graphdef, params, held.rest)
        wrapper = _Perturbed(_get(module, held.path), delta, leaves, truncate, x.shape[1], **record)
        _set(module, held.path, wrapper)
        return module(x), wrapper

    def _layer(self, x, perturbation=None, site="hidden", truncate=None):
        params = self.param("module", lambda key: self.held.params)
        if isinstance(perturbation, Remat):
            perturbation = perturbation.delta
        if isinstance(perturbation, SquaredNorms):
            raise SquaredNormsUnsupported("a whole NNX model takes an array perturbation, not SquaredNorms")
        delta, spec, request = tangent_frame.split(perturbation)
        if isinstance(delta, Remat):
            delta = delta.delta
        names = step_model.site_names(len(self.carry_sizes), -1)
        leaves = tuple(range(len(names))) if site == "state" else (names.index(site),)
        if spec is None:
            y, _ = self._run(params, x, delta, leaves, truncate)
            return y, y
        shapes = []
        jax.eval_shape(lambda p: self._run(p, x, None, leaves, truncate, tap=lambda x_t: shapes.append(x_t))[0], params)
        record = jax.ShapeDtypeStruct((x.shape[1], *shapes[0].shape), shapes[0].dtype)
        y, wrapper = self._run(params, x, delta, leaves, truncate, record=record)
        request.deliver(self._lyapunov(wrapper, wrapper.seen[...], names, spec))
        return y, y

    @staticmethod
    def _lyapunov(wrapper, inputs, names, spec):
        """`LyapunovStats` of the named cell's own recurrence over its recorded inputs ``[T, B, D']``."""
        graphdef, state = nnx.split(wrapper.cell)
        carry = wrapper.cell.initialize_carry(inputs.shape[1:], rngs=nnx.Rngs(0))
        leaves, treedef = jax.tree.flatten(carry)
        dtype = jnp.result_type(inputs.dtype, *leaves)

        def step(s, x_t):
            new, _ = nnx.merge(graphdef, state)(jax.tree.unflatten(treedef, [s[n] for n in names]), x_t)
            return dict(zip(names, (leaf.astype(dtype) for leaf in jax.tree.leaves(new))))

        state0 = {n: leaf.astype(dtype) for n, leaf in zip(names, leaves)}
        _, out = recurrence.scan(step, state0, inputs, emit=(), site=names[-1], lyapunov=spec)
        return out[recurrence.LYAPUNOV]


def from_module(module: nnx.Module, cell: str):
    """``from_nnx(module, cell=...)``: see the module docstring."""
    path = tuple(cell.split("."))
    try:
        target = _get(module, path)
    except (AttributeError, IndexError, KeyError, TypeError):
        raise ValueError(f"from_nnx: cell={cell!r} names no attribute of {type(module).__name__}") from None
    if not isinstance(target, nnx.RNNCellBase) or target.num_feature_axes != 1:
        raise ValueError(f"from_nnx: cell={cell!r} is a {type(target).__name__}; it must name an nnx.RNNCellBase "
                         "over vectors inside the module")
    carry = target.initialize_carry((getattr(target, "in_features", 1),), rngs=nnx.Rngs(0))
    sizes = step_model.carry_sizes(carry, f"from_nnx(cell={cell!r})")
    graphdef, params, rest = nnx.split(module, nnx.Param, ...)
    params = nnx.to_pure_dict(params)
    held = _Held(graphdef=graphdef, params=params, rest=nnx.to_pure_dict(rest), path=path)
    return NNXModule(hidden_size=sizes[-1], held=held, carry_sizes=sizes), {"params": {"module": params}}
