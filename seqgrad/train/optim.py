"""Optax chains from config: gradient clipping, optimizer, schedule, non-finite skipping.

The chain, outermost first:

    apply_if_finite(                               # optim.skip_nonfinite
      inject_hyperparams(                          # lr, clip_value, weight_decay live in the state
        chain(clip(clip_value),                    # optim.clip
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
"""

from __future__ import annotations

from collections.abc import Callable

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
        parts = [clipping(optim.clip, clip_value)]
        if optim.name != "adamw":
            parts.append(optax.add_decayed_weights(weight_decay))
        parts.append(_optimizer(optim, lambda count: learning_rate * unit(count), weight_decay))
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


def current_learning_rate(optim, total_steps: int, opt_state, step) -> jax.Array:
    """The learning rate used by the update at ``step`` (0-based): peak · s(step)."""
    return hyperparams(opt_state)["learning_rate"] * schedule(optim, total_steps)(step)


def was_clipped(optim, opt_state, grads, params) -> jax.Array:
    """True when the clipping rule changes ``grads`` (bool scalar)."""
    if optim.clip == "none":
        return jnp.zeros((), bool)
    rule = clipping(optim.clip, hyperparams(opt_state)["clip_value"])
    clipped, _ = rule.update(grads, rule.init(params), params)
    changed = jax.tree.map(lambda a, b: jnp.any(a != b), clipped, grads)
    return jnp.any(jnp.stack(jax.tree.leaves(changed)))
