"""The page's experiment: the recurrent weight's gradient, and where it comes from in time.

The page's loss is the squared error of the last output against a random target,

    L = ‖h_{T-1} - y‖²,

and it reports ``‖∂L/∂W_hh‖``. For a recurrent weight W shared by all steps,
``∂L/∂W = Σ_{d=0}^{T-1} G(d)``, where ``G(d)`` is the part that flows back through
exactly d steps before reaching W's use at step ``T-1-d``. Truncated BPTT through
the last k steps (``truncate=k``, exact for a loss on the last step) sums
``G(0) + … + G(k-1)``, so G is *defined* as

    G(d) = ∂L/∂W|_{truncate=d+1} − ∂L/∂W|_{truncate=d},    ∂L/∂W|_{truncate=0} := 0

(`truncated_gradient_by_distance`: T gradients, O(T²)). Their norms show what the
page's table hides: ``‖∂L/∂W‖`` barely changes with T because G(d) decays with d
and the last few steps dominate the sum.

One pass, O(T). G(d) is the gradient through W's use in step ``t = T-1-d``
alone: with ``s_t`` the full carried state and ``λ_t = ∂L/∂s_t`` (the adjoint of a
zero perturbation at a site that covers the whole state),

    G(d) = ∂/∂W ⟨λ_t, F(s̄_{t-1}, x_t; W)⟩     (s̄_{t-1}, λ_t held fixed; t = T-1: ∂L/∂W truncated to 1 step),

F the model's step. One forward and one backward pass give every ``s̄_t`` and
``λ_t``; the step at ``s̄_{t-1}`` is evaluated through the model's own calling
convention, a two-step sequence ``[0, x_t]`` whose first-step perturbation sets
the state to ``s̄_{t-1}`` and with ``truncate=1``, vmapped over t (`jax.lax.map`,
``batch_size`` steps at a time). This equals the definition above (the truncated
gradient is the sum of these per-step terms; the state is set up to one
rounding) and resolves every G(d)
to its own relative precision, where the difference of truncated gradients
resolves only down to ``eps·‖∂L/∂W‖`` (float32: ~1e-7 relative to the total).
It applies to single-layer models whose step does not depend on t and that have
a whole-state site (`state_site`: rnn, lstm, gru, mingru, lru); other models use
the truncated definition.

The recurrent weights are the parameter leaves named in
``models.info(name).recurrent_params``; models without them (Transformer, dilated
convolution) have no weight shared through time and no decomposition.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import traverse_util

from seqgrad import models

Array = jax.Array

# Architectures whose step does not depend on t, and their site covering the whole carried state.
STATE_SITES = {"rnn": "hidden", "lstm": "state", "gru": "hidden", "mingru": "hidden", "lru": "hidden"}

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
    """The page's loss ``‖h_index - target‖²`` for one sequence ``x: [T, D]``, ``target: [H]``."""
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


def truncated_gradient_by_distance(model, params, x: Array, target: Array, names, *, batch_size: int | None = None):
    """`gradient_by_distance` by its definition: differences of T truncated gradients, O(T²) (the reference).

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


def state_site(model: nn.Module) -> str | None:
    """The whole-state site of a one-layer, time-invariant model (`STATE_SITES`), else None."""
    if getattr(model, "num_layers", 1) != 1:
        return None
    for name, site in STATE_SITES.items():
        if type(model) is models.info(name).module:
            return site
    return None


def _substitute(params, paths, leaves):
    flat = traverse_util.flatten_dict(params)
    return traverse_util.unflatten_dict({**flat, **dict(zip(paths, leaves))})


def _per_step(model, params, x, target, names, site, batch_size, reduce):
    """``reduce({path: ∂L/∂W_t})`` for every step t (``[T, ...]``, in t order), from one backward pass."""
    T, D = x.shape
    paths = list(recurrent_leaves(params, names))
    width = jax.eval_shape(lambda: model.apply(params, x[None, :1], return_probe=True, site=site)[1]).shape[-1]

    def loss(delta):
        h, probe = model.apply(params, x[None], delta[None], site=site, return_probe=True)
        return jnp.sum((h[0, -1] - target) ** 2), probe[0]

    adjoint, states = jax.grad(loss, has_aux=True)(jnp.zeros((T, width), x.dtype))  # λ_t, s̄_t: [T, n]
    pair = jnp.zeros((1, 2, D), x.dtype)
    start = model.apply(params, pair[:, :1], jnp.zeros((1, 1, width), x.dtype), site=site, return_probe=True)[1][0, 0]
    previous = jnp.concatenate([jnp.zeros_like(states[:1]), states[:-1]]) - start  # sets the state to s̄_{t-1}

    def one(args):
        shift, lam, x_t, last = args

        def objective(leaves):
            delta = jnp.stack([shift, jnp.zeros_like(shift)])[None]
            h, probe = model.apply(_substitute(params, paths, leaves), pair.at[0, 1].set(x_t), delta, site=site,
                                   return_probe=True, truncate=1)
            return jnp.where(last, jnp.sum((h[0, 1] - target) ** 2), jnp.vdot(lam, probe[0, 1]))

        flat = traverse_util.flatten_dict(params)
        return reduce(dict(zip(paths, jax.grad(objective)([flat[p] for p in paths]))))

    return jax.lax.map(one, (previous, adjoint, x, jnp.arange(T) == T - 1), batch_size=batch_size)


def gradient_by_distance(model, params, x: Array, target: Array, names, *, batch_size: int | None = None):
    """Contributions ``G(d)`` of every distance d to ``∂L/∂W`` (loss on step ``T-1``).

    One pass (O(T)) for the models of `STATE_SITES`, the truncated definition
    (`truncated_gradient_by_distance`, O(T²)) otherwise; both give the same G.

    Args:
      model, params: a recurrent model (it must accept ``truncate``) and its variables.
      x: ``[T, D]``; target: ``[H]``.
      names: recurrent parameter leaf names.
      batch_size: steps (or truncation lengths) evaluated together (`jax.lax.map` batch).

    Returns:
      ``{path: [T, *leaf.shape]}`` with ``[d]`` = ``G(d)``; their sum over d is
      the full gradient.
    """
    site = state_site(model)
    if site is None:
        return truncated_gradient_by_distance(model, params, x, target, names, batch_size=batch_size)
    by_step = _per_step(model, params, x, target, names, site, batch_size, lambda g: g)
    return jax.tree.map(lambda g: g[::-1], by_step)


def distance_norms(model, params, x: Array, target: Array, names, *, batch_size: int | None = None) -> Array:
    """``[T]`` norms ``‖G(d)‖`` without holding every ``G(d)`` (one pass where `state_site` applies).

    Memory: ``batch_size`` gradients at a time, not ``T``.
    """
    site = state_site(model)
    if site is None:
        return contribution_norms(gradient_by_distance(model, params, x, target, names, batch_size=batch_size))
    return _per_step(model, params, x, target, names, site, batch_size, _norm)[::-1]


def contribution_norms(contributions) -> Array:
    """``[T]`` norms ``‖G(d)‖`` over all recurrent leaves together."""
    return jnp.sqrt(sum(jnp.sum(jnp.abs(g.reshape(g.shape[0], -1)) ** 2, axis=1) for g in jax.tree.leaves(contributions)))


def gradient_norm(tree) -> Array:
    """Frobenius norm over all leaves of a gradient pytree."""
    return _norm(tree)


def snippet_experiment(model, params, x: Array, target: Array, names, lengths, *, batch_size: int | None = None):
    """`gradient_by_distance` and `gradient_norm_vs_length` together.

    With a `state_site`: the one-pass decomposition and one gradient per length.
    Otherwise every gradient needed is ``∂L_i/∂W`` with truncation k: ``(i, k) =
    (T-1, 1..T)`` for the decomposition and ``(T'-1, T)`` (no effective
    truncation) for each length T'; one `jax.lax.map` over those pairs compiles
    the gradient once.

    Returns:
      ``(norms_vs_length [len(lengths)], contributions {path: [T, ...]})``.
    """
    if state_site(model) is not None:
        return (gradient_norm_vs_length(model, params, x, target, names, lengths),
                gradient_by_distance(model, params, x, target, names, batch_size=batch_size))
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
