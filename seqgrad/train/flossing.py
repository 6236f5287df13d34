"""Gradient flossing: keep the top Lyapunov exponents of the recurrence near 0 while training.

Engelken (2023), "Gradient Flossing: Improving Gradient Descent through Dynamic
Control of Jacobians", NeurIPS. Gradients over a distance d scale like ``e^(λ_i d)``
along the i-th Lyapunov direction of the recurrence ``s_t = F(s_{t−1}, x_t)``, so
pushing the top k exponents towards 0 keeps k directions of the backward pass from
vanishing or exploding. Every ``train.flossing.every`` steps the training loss gains

    weight · Σ_{i ≤ k} λ_i²,

with λ_1 ≥ … ≥ λ_k the top ``k = train.flossing.num_exponents`` exponents of the
model's recurrence driven by the first ``train.flossing.length`` steps of the first
training sequence of the batch (0: all of it), computed by the QR method
(`seqgrad.gradflow.lyapunov_exponents`, differentiable end to end; from the zero
state, no burn-in, initial frame seed 0). It works for every `RecurrentModel`,
models from ``seqgrad.models.imported`` / ``from_flax`` included.

"Flossing before training" (the paper's pre-training variant):
``train.flossing.pretrain_steps`` Adam steps (learning rate
``train.flossing.pretrain_learning_rate``) on ``Σ λ_i²`` alone, applied to the
freshly initialised model before the first training step (inside `Trainer.init`,
so a resumed run restores, never repeats, them). Their batches are drawn from
``fold_in(key(seed), FLOSS)``, independent of the training batches.

Config (``train.flossing``, `defaults`): ``weight`` (0: off; then the training step is
the very program it is without flossing), ``every``, ``num_exponents``, ``length``,
``pretrain_steps``, ``pretrain_learning_rate``.

Metrics: ``flossing_lambda_<i>`` (i = 1 … k, the exponents of the flossed steps of a
chunk, averaged) and ``flossing_penalty`` (``weight·Σλ²``), in ``metrics.jsonl`` and
TensorBoard; none when flossing is off.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from seqgrad import checks, models, modelspec, tasks
from seqgrad.gradflow.lyapunov import lyapunov_exponents
from seqgrad.models.base import RecurrentModel

FLOSS = 4  # fold_in tag of the root key for the pre-training batches (seqgrad.train.state uses 0 … 3)
EXPONENTS = "flossing_exponents"  # per-step metric: [k] exponents (NaN on steps that did not floss)
PENALTY = "flossing_penalty"


def defaults() -> ml_collections.ConfigDict:
    """``train.flossing`` with flossing off."""
    c = ml_collections.ConfigDict()
    c.weight = 0.0  # 0 = off
    c.every = 1  # floss on steps where step % every == 0
    c.num_exponents = 1  # k
    c.length = 0  # steps of the training sequence driving the recurrence (0 = all)
    c.pretrain_steps = 0  # flossing-only steps before training
    c.pretrain_learning_rate = 1e-3
    return c


def _section(config):
    return config.train.get("flossing", None) or defaults()


def enabled(config) -> bool:
    c = _section(config)
    return c.weight > 0 or c.pretrain_steps > 0


def validate(config, model, seq_len: int) -> None:
    """One-line `ValueError` naming the ``train.flossing`` key, its value and what is valid."""
    c = _section(config)
    checks.positive("train.flossing.weight", c.weight, allow_zero=True)
    checks.positive("train.flossing.pretrain_learning_rate", c.pretrain_learning_rate)
    checks.positive_int("train.flossing.every", c.every)
    checks.positive_int("train.flossing.pretrain_steps", c.pretrain_steps, minimum=0)
    checks.positive_int("train.flossing.num_exponents", c.num_exponents,
                        reason=f"at most model.hidden_size={config.model.hidden_size}")
    if c.num_exponents > config.model.hidden_size:
        raise ValueError(f"train.flossing.num_exponents={c.num_exponents} is invalid: at most "
                         f"model.hidden_size={config.model.hidden_size}")
    checks.positive_int("train.flossing.length", c.length, minimum=0, reason="0 = the whole sequence")
    if c.length > seq_len:
        raise ValueError(f"train.flossing.length={c.length} is invalid: the task's sequences have {seq_len} steps "
                         "(0 = all of them)")
    if enabled(config) and not isinstance(model, RecurrentModel):
        raise ValueError(f"train.flossing.weight={c.weight!r} / pretrain_steps={c.pretrain_steps!r} is invalid "
                         f"for model.name={config.model.name!r}: it has no recurrence to floss (set both to 0)")


def check(config) -> None:
    """`validate` from the config alone (builds the model and task objects; compiles nothing)."""
    model = models.create(config.model.name, hidden_size=config.model.hidden_size,
                          **modelspec.for_model(config.model.name, config.model.options.to_dict()))
    task = tasks.create(config.task.name, length=config.task.length, **config.task.options.to_dict())
    validate(config, model, task.seq_len)


class Flossing:
    """The flossing term of one run (`from_config`), used by `seqgrad.train.state.Trainer`."""

    def __init__(self, config, model, task):
        c = _section(config)
        self.model, self.task, self.batch_size = model, task, config.train.batch_size
        self.weight, self.every = float(c.weight), int(c.every)
        self.num_exponents, self.length = int(c.num_exponents), int(c.length) or task.seq_len
        self.pretrain_steps, self.pretrain_learning_rate = int(c.pretrain_steps), float(c.pretrain_learning_rate)

    @classmethod
    def from_config(cls, config, model, task) -> Flossing | None:
        """None when flossing is off (weight 0, no pre-training): the trainer then runs as without it."""
        validate(config, model, task.seq_len)
        return cls(config, model, task) if enabled(config) else None

    def exponents(self, model_params, inputs: jax.Array) -> jax.Array:
        """``[k]`` top exponents of the recurrence driven by ``inputs[0, :length]`` (``inputs: [B, T, D]``)."""
        x = inputs[0, : self.length]
        return lyapunov_exponents(self.model, model_params, x, num_exponents=self.num_exponents)

    def objective(self, model_params, inputs: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(Σ_{i≤k} λ_i², λ [k])``: the flossing loss without its weight."""
        lam = self.exponents(model_params, inputs)
        return jnp.sum(lam * lam), lam

    def value_and_grad(self, loss_fn, params, inputs, step):
        """``((task loss, metrics), grads)`` of ``loss_fn(params) + weight·Σλ²·[step % every == 0]``."""
        active = (step % self.every) == 0

        if self.weight == 0:  # pre-training only: the plain step
            loss, grads = jax.value_and_grad(loss_fn)(params)
            return (loss, {}), grads

        def total(p):
            loss = loss_fn(p)
            flossed, lam = jax.lax.cond(
                active,
                lambda: self.objective(p["model"], inputs),
                lambda: (jnp.zeros((), loss.dtype), jnp.zeros((self.num_exponents,), loss.dtype)),
            )
            penalty = self.weight * flossed
            nan = jnp.full_like(lam, jnp.nan)
            metrics = {EXPONENTS: jnp.where(active, lam, nan), PENALTY: jnp.where(active, penalty, jnp.nan)}
            return loss + penalty, (loss, metrics)

        (_, (loss, metrics)), grads = jax.value_and_grad(total, has_aux=True)(params)
        return (loss, metrics), grads

    def pretrain(self, model_params, key: jax.Array):
        """``pretrain_steps`` Adam steps on ``Σλ²`` alone (`lax.scan`): the flossed initial parameters."""
        if not self.pretrain_steps:
            return model_params
        tx = optax.adam(self.pretrain_learning_rate)

        def step(carry, i):
            p, opt_state = carry
            inputs, _, _ = self.task.batch(jax.random.fold_in(key, i), self.batch_size)
            grads = jax.grad(lambda q: self.objective(q, inputs)[0])(p)
            updates, opt_state = tx.update(grads, opt_state, p)
            return (optax.apply_updates(p, updates), opt_state), None

        (model_params, _), _ = jax.lax.scan(step, (model_params, tx.init(model_params)),
                                            jnp.arange(self.pretrain_steps))
        return model_params


def row_entries(metrics: dict[str, np.ndarray]) -> dict[str, Any]:
    """Metrics-row entries from chunk metrics (``EXPONENTS [S, R, k]``, ``PENALTY [S, R]``): the
    mean over the chunk's flossed steps, median over replicas; ``{}`` when flossing is off or
    no step of the chunk flossed."""
    if EXPONENTS not in metrics:
        return {}
    lam, penalty = np.asarray(metrics[EXPONENTS]), np.asarray(metrics[PENALTY])
    flossed = ~np.isnan(penalty)
    if not flossed.any():
        return {}
    per_replica = np.nanmean(lam[flossed.any(axis=1)], axis=0)  # [R, k]: every replica flosses on the same steps
    row = {f"flossing_lambda_{i + 1}": float(v) for i, v in enumerate(np.nanmedian(per_replica, axis=0))}
    row[PENALTY] = float(np.nanmedian(np.nanmean(penalty, axis=0)))
    return row
