"""Any `flax.linen.RNNCellBase` as a seqgrad model: `from_flax(cell)`.

    model = models.from_flax(nn.OptimizedLSTMCell(features=32))
    params = model.init(key, x)                  # params["params"]["cell"]: the cell's own tree
    h = model.apply(params, x)                   # x: [B, T, D] -> h: [B, T, H], H = cell.features
    h, probe = model.apply(params, x, delta, site="cell", return_probe=True)

The cell's step ``(carry, x_t) -> (carry', y_t)`` runs under the shared recurrence
(`seqgrad.models.recurrence.scan`), so truncation, the state perturbation and the
Lyapunov tangent frames apply to it unchanged. Its parameters sit at
``params["params"]["cell"]`` exactly as ``flax.linen.RNN(cell)`` creates them, so
weights move between the two without conversion, and the outputs are equal.

Sites are the carry entries. The flax carry's leaves become the entries of the
shared scan's carry: ``"hidden"`` is the last leaf (``h``: flax cells put ``h``
last), ``"cell"`` the first leaf of a two-leaf carry (``c`` of an LSTM cell's
``(c, h)``), ``"carry_i"`` the i-th leaf of a longer one, and ``"state"`` all of
them, concatenated in carry order (``[c, h]``, ``S`` wide). A perturbation
``δ: [B, T, n]`` (``n = model.site_size(site)``) enters that entry after every
step, so ``∂probe_{T-1}/∂δ_t`` is the square Jacobian of that carry entry
(``S × S`` for ``"state"``: ``∂(c, h)_{T-1}/∂(c, h)_t``). Lyapunov exponents are
those of the whole carry, as for every other model.

The output ``y_t`` is the carry leaf the cell returns as its output (``h`` for
every flax cell); a user cell whose output is not a carry leaf gets
``y_t = cell(s_{t-1}, x_t)[1]`` evaluated for all t after the scan.

Flax's row-vector convention: ``SimpleCell`` computes
``h_t = φ(x_t U + b + h_{t-1} W)`` with ``W = params["cell"]["h"]["kernel"]``, so a
linear ``φ`` gives ``∂h_T/∂h_t = (Wᵀ)^(T−t)``.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from seqgrad.models import recurrence, step_model
from seqgrad.models.base import RecurrentModel

Array = jax.Array


def _carry_layout(cell: nn.RNNCellBase) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """(leaf site names, leaf feature sizes) of the cell's carry, from its abstract shape."""
    if cell.num_feature_axes != 1:
        raise ValueError(
            f"cell {type(cell).__name__} has {cell.num_feature_axes} feature axes; from_flax takes cells "
            "over vectors (num_feature_axes = 1)"
        )
    carry = jax.eval_shape(lambda: cell.initialize_carry(jax.random.key(0), (1, 1)))
    sizes = tuple(int(np.prod(leaf.shape[1:])) for leaf in jax.tree.leaves(carry))
    if len(sizes) == 1:
        names = ("hidden",)
    elif len(sizes) == 2:
        names = ("cell", "hidden")
    else:
        names = tuple(f"carry_{i}" for i in range(len(sizes) - 1)) + ("hidden",)
    return names, sizes


class FlaxCell(RecurrentModel):
    """A flax cell run by the shared recurrence: ``x: [B, T, D] -> h: [B, T, H]``, H the cell's output width.

    Use `from_flax`. Sites: the carry entries (see the module docstring), e.g.
    ``("cell", "hidden", "state")`` for an LSTM cell. A `RecurrentModel` of one
    layer whose step is the cell's, so perturbations, truncation and Lyapunov
    requests go through `RecurrentModel.__call__` as for every other model.
    """

    cell: nn.RNNCellBase | None = None
    unroll: int = 1

    @property
    def sites(self) -> tuple[str, ...]:
        names = _carry_layout(self.cell)[0]
        return names + (("state",) if len(names) > 1 else ())

    def site_size(self, site: str) -> int:
        """Length of the perturbation vector at ``site`` (H, or S for ``"state"``)."""
        names, sizes = _carry_layout(self.cell)
        return sum(sizes) if site == "state" else sizes[names.index(site)]

    def make_layer(self, index: int, **overrides):
        """The one layer: the cell itself (its parameters stay at ``params["params"]["cell"]``)."""
        if index or self.num_layers != 1:
            raise ValueError(f"num_layers={self.num_layers!r} is invalid for a wrapped flax cell: it must be 1")
        return self._layer

    def _layer(self, x, perturbation=None, site="hidden", truncate=None):
        names, _ = _carry_layout(self.cell)
        inputs = recurrence.time_major(x)  # [T, B, D]
        carry = self.cell.initialize_carry(jax.random.key(0), inputs[0].shape)  # nn.RNN's default key
        if self.is_initializing():
            self.cell(carry, inputs[0])
        cell, variables = self.cell.unbind()
        dtype = jnp.result_type(x.dtype, *jax.tree.leaves(variables))
        leaves, treedef = jax.tree.flatten(carry)

        def apply(state, x_t):
            """The cell on a dict carry: ``{name: leaf} -> (flax carry', y)``."""
            return cell.apply(variables, jax.tree.unflatten(treedef, [state[n] for n in names]), x_t)

        def step(state, x_t):
            return dict(zip(names, (leaf.astype(dtype) for leaf in jax.tree.leaves(apply(state, x_t)[0]))))

        state0 = {n: leaf.astype(dtype) for n, leaf in zip(names, leaves)}
        keys = names if site == "state" else (site,)
        out = recurrence.scan_layer(
            step, state0, inputs, perturbation=perturbation, site=keys, truncate=truncate, unroll=self.unroll, emit=names
        )
        probe = jnp.concatenate([out[n] for n in keys], axis=-1)
        leaf = step_model.output_leaf(apply, state0, inputs[0], names)
        if leaf is not None:
            return out[leaf], probe
        return step_model.recomputed_outputs(lambda s, x_t: apply(s, x_t)[1], state0, out, inputs, names), probe


def from_flax(cell: nn.RNNCellBase, *, unroll: int = 1) -> FlaxCell:
    """Wraps a `flax.linen.RNNCellBase` instance into a seqgrad model (see the module docstring).

    Raises:
      ValueError: ``cell`` is not an unbound `flax.linen.RNNCellBase` instance.
    """
    if not isinstance(cell, nn.RNNCellBase):
        raise ValueError(f"from_flax takes a flax.linen.RNNCellBase instance; got {cell!r}")
    return FlaxCell(hidden_size=_carry_layout(cell)[1][-1], cell=cell, unroll=unroll)
