"""The losses and metrics of a task, over the masked steps.

``outputs [B, T, O]`` (the readout), ``targets [B, T]``, ``mask [B, T]`` (1 on the
steps that enter the loss):

    regression:      loss = Σ m_t (y_t − target_t)² / Σ m_t                 metric "mse"
    classification:  loss = −Σ m_t log softmax(y_t)[target_t] / Σ m_t       metric "accuracy"
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

Array = jax.Array

KINDS = ("regression", "classification")


def masked_mean(values: Array, mask: Array) -> Array:
    """``Σ m v / max(Σ m, 1)`` over all axes."""
    return jnp.sum(values * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def per_step_loss(kind: str, outputs: Array, targets: Array) -> Array:
    """``[B, T]``: squared error of output 0 (regression) or cross-entropy (classification)."""
    if kind == "regression":
        return (outputs[..., 0] - targets) ** 2
    return optax.softmax_cross_entropy_with_integer_labels(outputs, targets)


def loss(kind: str, outputs: Array, targets: Array, mask: Array) -> Array:
    """The masked mean of `per_step_loss` (a scalar)."""
    return masked_mean(per_step_loss(kind, outputs, targets), mask)


def metrics(kind: str, outputs: Array, targets: Array, mask: Array) -> dict[str, Array]:
    """``{"loss", "mse"}`` (regression) or ``{"loss", "accuracy"}`` (classification), masked means."""
    value = loss(kind, outputs, targets, mask)
    if kind == "regression":
        return {"loss": value, "mse": value}
    correct = (jnp.argmax(outputs, axis=-1) == targets).astype(outputs.dtype)
    return {"loss": value, "accuracy": masked_mean(correct, mask)}
