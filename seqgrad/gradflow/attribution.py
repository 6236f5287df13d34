"""The seed's experiment: the recurrent weight's gradient, and where it comes from in time.

The seed's loss is the squared error of the last output against a random target,

    L = ‖h_{T-1} - y‖²,

and it reports ``‖∂L/∂W_hh‖``. For a recurrent weight W shared by all steps,
``∂L/∂W = Σ_{d=0}^{T-1} G(d)``, where ``G(d)`` is the part that flows back through
exactly d steps before reaching W's use at step ``T-1-d``. Truncated BPTT through
the last k steps (``truncate=k``, exact for a loss on the last step) sums
``G(0) + … + G(k-1)``, so

    G(d) = ∂L/∂W|_{truncate=d+1} − ∂L/∂W|_{truncate=d},    ∂L/∂W|_{truncate=0} := 0,

for every d in one compiled call (`jax.lax.map` over k). Their norms show what the
seed's table hides: ``‖∂L/∂W‖`` barely changes with T because G(d) decays with d
and the last few steps dominate the sum.

Precision: G(d) is a difference of two truncated gradients, so it resolves
contributions down to about ``eps·‖∂L/∂W‖`` (float32: ~1e-7 relative); smaller
ones read 0 or rounding noise. Run in float64 to follow the tail further.

The recurrent weights are the parameter leaves named in
``models.info(name).recurrent_params``; models without them (Transformer, dilated
convolution) have no weight shared through time and no decomposition.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import traverse_util

Array = jax.Array

NOT_APPLICABLE = (
    "no recurrent weight: the model has no recurrence to truncate, its weights act on all positions at once"
)


def recurrent_leaves(params, names) -> dict[tuple[str, ...], Array]:
    """The leaves of ``params`` whose last path component is one of ``names``: ``{path: leaf}``."""
    flat = traverse_util.flatten_dict(params)
    leaves = {path: leaf for path, leaf in flat.items() if path[-1] in names}
    if not leaves:
        raise ValueError(f"no parameter leaf named any of {list(names)}; leaves: {sorted('/'.join(p) for p in flat)}")
    return leaves


def last_step_loss(model: nn.Module, params, x: Array, target: Array, *, index=-1, truncate=None) -> Array:
    """The seed's loss ``‖h_index - target‖²`` for one sequence ``x: [T, D]``, ``target: [H]``."""
    kwargs = {} if truncate is None else {"truncate": truncate}
    h = model.apply(params, x[None], **kwargs)[0]
    return jnp.sum((h[index] - target) ** 2)


def _norm(tree) -> Array:
    return jnp.sqrt(sum(jnp.sum(jnp.abs(leaf) ** 2) for leaf in jax.tree.leaves(tree)))


def recurrent_gradient(model, params, x, target, names, *, index=-1, truncate=None):
    """``{path: ∂L/∂leaf}`` over the recurrent leaves ``names``."""
    paths = list(recurrent_leaves(params, names))

    def loss(leaves):
        flat = traverse_util.flatten_dict(params)
        full = traverse_util.unflatten_dict({**flat, **dict(zip(paths, leaves))})
        return last_step_loss(model, full, x, target, index=index, truncate=truncate)

    flat = traverse_util.flatten_dict(params)
    grads = jax.grad(loss)([flat[p] for p in paths])
    return dict(zip(paths, grads))


def gradient_norm_vs_length(model, params, x: Array, target: Array, names, lengths) -> Array:
    """``‖∂L_T/∂W‖`` for every T in ``lengths``, from one sequence ``x: [T_max, D]``.

    Every model is causal, so the output at step ``T-1`` of ``x`` equals the last
    output on the prefix ``x[:T]``: one compiled call covers every length.
    """
    lengths = jnp.asarray(lengths)
    return jax.vmap(lambda T: _norm(recurrent_gradient(model, params, x, target, names, index=T - 1)))(lengths)


def gradient_by_distance(model, params, x: Array, target: Array, names, *, batch_size: int | None = None):
    """Contributions ``G(d)`` of every distance d to ``∂L/∂W`` (loss on step ``T-1``).

    Args:
      model, params: a recurrent model (it must accept ``truncate``) and its variables.
      x: ``[T, D]``; target: ``[H]``.
      names: recurrent parameter leaf names.
      batch_size: truncation lengths evaluated together (`jax.lax.map` batch).

    Returns:
      ``{path: [T, *leaf.shape]}`` with ``[d]`` = ``G(d)``; their sum over d is
      the full gradient.
    """
    T = x.shape[0]
    ks = jnp.arange(1, T + 1)
    truncated = jax.lax.map(
        lambda k: recurrent_gradient(model, params, x, target, names, truncate=k), ks, batch_size=batch_size
    )
    return jax.tree.map(lambda g: jnp.diff(g, axis=0, prepend=jnp.zeros_like(g[:1])), truncated)


def contribution_norms(contributions) -> Array:
    """``[T]`` norms ``‖G(d)‖`` over all recurrent leaves together."""
    return jnp.sqrt(sum(jnp.sum(jnp.abs(g.reshape(g.shape[0], -1)) ** 2, axis=1) for g in jax.tree.leaves(contributions)))


def gradient_norm(tree) -> Array:
    """Frobenius norm over all leaves of a gradient pytree."""
    return _norm(tree)


def seed_experiment(model, params, x: Array, target: Array, names, lengths, *, batch_size: int | None = None):
    """`gradient_by_distance` and `gradient_norm_vs_length` from one compiled gradient.

    Every gradient needed is ``∂L_i/∂W`` with truncation k: ``(i, k) = (T-1, 1..T)``
    for the decomposition and ``(T'-1, T)`` (no effective truncation) for each
    length T'. One `jax.lax.map` over those pairs compiles the gradient once.

    Returns:
      ``(norms_vs_length [len(lengths)], contributions {path: [T, ...]})``.
    """
    T = x.shape[0]
    lengths = jnp.asarray(lengths)
    index = jnp.concatenate([jnp.full((T,), T - 1), lengths - 1])
    truncate = jnp.concatenate([jnp.arange(1, T + 1), jnp.full(lengths.shape, T)])
    grads = jax.lax.map(
        lambda ik: recurrent_gradient(model, params, x, target, names, index=ik[0], truncate=ik[1]),
        (index, truncate),
        batch_size=batch_size,
    )
    truncated = jax.tree.map(lambda g: g[:T], grads)
    contributions = jax.tree.map(lambda g: jnp.diff(g, axis=0, prepend=jnp.zeros_like(g[:1])), truncated)
    by_length = jax.tree.map(lambda g: g[T:], grads)
    norms = jnp.sqrt(sum(jnp.sum(jnp.abs(g.reshape(g.shape[0], -1)) ** 2, axis=1) for g in jax.tree.leaves(by_length)))
    return norms, contributions
