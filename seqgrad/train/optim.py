"""Optax chains from config: gradient clipping, optimizer, schedule, non-finite skipping.

The chain, outermost first:

    apply_if_finite(                               # optim.skip_nonfinite
      inject_hyperparams(                          # lr, clip_value, weight_decay live in the state
        chain(record(clip(clip_value), lr),        # optim.clip; the state records what was applied
              [add_decayed_weights(weight_decay)], # L2 for every optimizer but adamw
              optimizer(lr · schedule(count)))))   # optim.name, optim.schedule

Clipping rules (``g`` the gradient, ``c`` = ``optim.clip_value``):

    none         g
    value        clip(g, −c, c) element-wise                        `optax.clip`
    global_norm  g · min(1, c / ‖g‖₂) over all leaves               `optax.clip_by_global_norm`
                 (Pascanu, Mikolov & Bengio 2013)
    adaptive     per unit: g · min(1, c · max(‖w‖, ε) / ‖g‖)         `optax.adaptive_grad_clip`
                 (AGC, Brock et al. 2021)
    block_rms    per leaf: g · min(1, c / rms(g))                    `optax.clip_by_block_rms`

`optax.inject_hyperparams` keeps the peak learning rate, the clip threshold and the
weight decay as arrays in the optimizer state, so replicas stacked on a leading
axis can each carry their own values while sharing one compiled update.
`optax.apply_if_finite` must be outermost: clipping does not protect against
NaN/Inf gradients (``clip_by_global_norm`` passes NaN through), so a non-finite
update is skipped as a whole and the parameters stay finite.

What the metrics report comes from the optimizer's own state (`applied`), not from
re-running a rule: `record` wraps the clipping rule and keeps, for the last update it
took part in, the pre-clip global norm ‖g‖₂, whether the rule changed ``g``, and the
learning rate ``peak · s(count)`` at the optimizer's own update count. A step that
``apply_if_finite`` skipped leaves that state as it was (so the count, and with it the
schedule, does not advance) and `applied` reports learning rate 0 for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

CLIP_RULES: dict[str, Callable[[jax.Array], optax.GradientTransformation]] = {
    "none": lambda c: optax.identity(),
    "value": optax.clip,
    "global_norm": optax.clip_by_global_norm,
    "adaptive": optax.adaptive_grad_clip,
    "block_rms": optax.clip_by_block_rms,
}

HYPERPARAMS = ("learning_rate", "clip_value", "weight_decay")


def clipping(name: str, clip_value) -> optax.GradientTransformation:
    """The stateless clipping transformation ``name`` with threshold ``clip_value``."""
    return CLIP_RULES[name](clip_value)


class RecordState(NamedTuple):
    """State of `record`: the last update it took part in.

    Attributes:
      count: updates applied so far (int32; the count the schedule is evaluated at).
      grad_norm: ‖g‖₂ over all leaves before clipping (float32).
      clipped: 1.0 when the clipping rule changed ``g``, else 0.0.
      learning_rate: ``learning_rate_fn(count)`` of that update (float32).
    """

    count: jax.Array
    grad_norm: jax.Array
    clipped: jax.Array
    learning_rate: jax.Array


def _changed(a, b) -> jax.Array:
    """True when two pytrees of arrays differ anywhere (bool scalar)."""
    leaves = jax.tree.leaves(jax.tree.map(lambda x, y: jnp.any(x != y), a, b))
    return jnp.any(jnp.stack(leaves)) if leaves else jnp.zeros((), bool)


def record(rule: optax.GradientTransformation, learning_rate_fn: Callable) -> optax.GradientTransformation:
    """``rule`` (a stateless clipping transformation), recording what it did in its state.

    ``update(g, state, params)`` returns ``rule(g)`` and `RecordState` with
    ``count + 1``, ``‖g‖₂``, ``[rule(g) != g]`` and ``learning_rate_fn(count)``: the
    learning rate an optimizer driven by the same schedule applies in this update
    (optax optimizers evaluate their schedule at their own count, which advances with
    this one inside one chain).
    """

    def init(params):
        del params
        zero = jnp.zeros((), jnp.float32)
        return RecordState(jnp.zeros((), jnp.int32), zero, zero, zero)

    def update(updates, state, params=None):
        clipped, _ = rule.update(updates, rule.init(params), params)
        new = RecordState(
            count=state.count + 1,
            grad_norm=optax.tree.norm(updates).astype(jnp.float32),
            clipped=_changed(clipped, updates).astype(jnp.float32),
            learning_rate=jnp.asarray(learning_rate_fn(state.count), jnp.float32),
        )
        return clipped, new

    return optax.GradientTransformation(init, update)


def schedule(optim, total_steps: int) -> Callable[[jax.Array], jax.Array]:
    """The unit-peak learning-rate multiplier ``count -> s(count)`` of ``optim.schedule``.

    ``constant``: 1. ``warmup_cosine``: linear from 0 to 1 over ``warmup_steps``, then
    cosine down to ``end_lr_fraction`` at ``decay_steps`` (0 = ``total_steps``)
    (Loshchilov & Hutter 2017).
    """
    if optim.schedule == "constant":
        return lambda count: jnp.ones((), jnp.float32)
    decay = optim.decay_steps or total_steps
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=1.0,
        warmup_steps=optim.warmup_steps,
        decay_steps=max(decay, optim.warmup_steps + 1),
        end_value=optim.end_lr_fraction,
    )


def _optimizer(optim, lr, weight_decay) -> optax.GradientTransformation:
    name = optim.name
    if name == "sgd":
        return optax.sgd(lr)
    if name == "momentum":
        return optax.sgd(lr, momentum=optim.momentum)
    if name == "adam":
        return optax.adam(lr, b1=optim.b1, b2=optim.b2, eps=optim.eps)
    if name == "adamw":
        return optax.adamw(lr, b1=optim.b1, b2=optim.b2, eps=optim.eps, weight_decay=weight_decay)
    if name == "rmsprop":
        return optax.rmsprop(lr, decay=optim.decay, eps=optim.eps, momentum=optim.momentum or None)
    raise ValueError(f"optim.name={name!r} is unknown; valid choices: sgd, momentum, adam, adamw, rmsprop")


def make_optimizer(optim, total_steps: int) -> optax.GradientTransformation:
    """The optax chain of the ``optim`` config section (see the module docstring).

    Args:
      optim: the ``config.optim`` section.
      total_steps: ``train.steps``, the default cosine decay horizon.

    Returns:
      A `GradientTransformation` whose ``update`` takes ``(grads, state, params)``
      (the adaptive rule needs the parameters).
    """
    unit = schedule(optim, total_steps)

    def factory(learning_rate, clip_value, weight_decay):
        def lr(count):
            return learning_rate * unit(count)

        parts = [record(clipping(optim.clip, clip_value), lr)]
        if optim.name != "adamw":
            parts.append(optax.add_decayed_weights(weight_decay))
        parts.append(_optimizer(optim, lr, weight_decay))
        return optax.chain(*parts)

    tx = optax.inject_hyperparams(factory)(
        learning_rate=optim.learning_rate, clip_value=optim.clip_value, weight_decay=optim.weight_decay
    )
    if optim.skip_nonfinite:
        tx = optax.apply_if_finite(tx, max_consecutive_errors=optim.max_consecutive_nonfinite)
    return tx


def _inject_state(opt_state):
    """The `InjectHyperparamsState` inside ``opt_state`` (unwrapping `apply_if_finite`)."""
    return opt_state.inner_state if isinstance(opt_state, optax.ApplyIfFiniteState) else opt_state


def hyperparams(opt_state) -> dict[str, jax.Array]:
    """``{"learning_rate", "clip_value", "weight_decay"}`` held in ``opt_state``."""
    return dict(_inject_state(opt_state).hyperparams)


def with_hyperparams(opt_state, **values):
    """``opt_state`` with some injected hyper-parameters replaced (same dtypes)."""
    inner = _inject_state(opt_state)
    new = dict(inner.hyperparams)
    for key, value in values.items():
        if key not in new:
            raise ValueError(f"unknown hyper-parameter {key!r}; valid: {sorted(new)}")
        new[key] = jnp.asarray(value, new[key].dtype)
    inner = inner._replace(hyperparams=new)
    if isinstance(opt_state, optax.ApplyIfFiniteState):
        return opt_state._replace(inner_state=inner)
    return inner


def applied(opt_state) -> dict[str, jax.Array]:
    """What the last ``update`` did, read from ``opt_state`` (scalars):

    ``learning_rate`` (0 for a skipped update), ``grad_norm`` (pre-clip ‖g‖₂; NaN for a
    skipped update, whose gradient took no part in training), ``clipped`` (0/1),
    ``skipped`` (bool: ``apply_if_finite`` dropped the update) and ``count`` (updates
    applied so far).
    """
    stats = _inject_state(opt_state).inner_state[0]
    skipped = (
        ~opt_state.last_finite if isinstance(opt_state, optax.ApplyIfFiniteState) else jnp.zeros((), bool)
    )
    return {
        "learning_rate": jnp.where(skipped, 0.0, stats.learning_rate),
        "grad_norm": jnp.where(skipped, jnp.nan, stats.grad_norm),
        "clipped": jnp.where(skipped, 0.0, stats.clipped),
        "skipped": skipped,
        "count": stats.count,
    }


def current_learning_rate(optim, total_steps: int, opt_state, step) -> jax.Array:
    """The schedule's learning rate at update count ``step`` (0-based): peak · s(step).

    The optimizer's own count is ``applied(opt_state)["count"]``; it lags the training
    step by the number of skipped updates.
    """
    return hyperparams(opt_state)["learning_rate"] * schedule(optim, total_steps)(step)


def was_clipped(optim, opt_state, grads, params) -> jax.Array:
    """True when the clipping rule would change ``grads`` (bool scalar); the training
    step reads what actually happened from `applied` instead."""
    if optim.clip == "none":
        return jnp.zeros((), bool)
    rule = clipping(optim.clip, hyperparams(opt_state)["clip_value"])
    clipped, _ = rule.update(grads, rule.init(params), params)
    return _changed(clipped, grads)
