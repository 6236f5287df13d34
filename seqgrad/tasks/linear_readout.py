"""The linear read-out from a model's states to a task's outputs: ``y = h W + b``."""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def init_readout(key: Array, hidden_size: int, output_dim: int, dtype=jnp.float32) -> dict[str, Array]:
    """Parameters of the linear readout: ``kernel [H, O]`` (LeCun normal), ``bias [O]`` (zeros)."""
    kernel = jax.nn.initializers.lecun_normal()(key, (hidden_size, output_dim), dtype)
    return {"kernel": kernel, "bias": jnp.zeros((output_dim,), dtype)}


def readout(params: dict[str, Array], h: Array) -> Array:
    """``y = h W + b``: ``h [B, T, H] -> y [B, T, O]``."""
    return h @ params["kernel"] + params["bias"]
