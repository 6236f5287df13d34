"""Recurrent-weight initialisers selectable by name from configs.

All return a flax initializer ``(key, shape, dtype) -> [H, H]`` for a square
recurrent matrix, scaled by ``scale``:

* ``orthogonal``: ``scale · Q`` with Q Haar-orthogonal (Saxe et al. 2014): every
  singular value equals ``scale``.
* ``identity``: ``scale · I`` (IRNN, Le et al. 2015).
* ``normal``: i.i.d. ``N(0, scale² / H)``, spectral radius ≈ ``scale``
  (circular law).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

RECURRENT_INITS = ("orthogonal", "identity", "normal")


def recurrent_initializer(name: str, scale: float = 1.0):
    """The initializer ``name`` (one of `RECURRENT_INITS`) scaled by ``scale``."""
    if name == "orthogonal":
        return nn.initializers.orthogonal(scale=scale)
    if name == "identity":

        def identity(key, shape, dtype=jnp.float32):
            del key
            return scale * jnp.eye(shape[0], shape[1], dtype=dtype)

        return identity
    if name == "normal":

        def normal(key, shape, dtype=jnp.float32):
            return scale / jnp.sqrt(shape[0]).astype(dtype) * jax.random.normal(key, shape, dtype)

        return normal
    raise ValueError(f"recurrent_init={name!r} is invalid; valid choices: {list(RECURRENT_INITS)}")


# Input kernels: LeCun normal, N(0, 1/D_in), so that U x_t has unit variance per unit.
input_initializer = nn.initializers.lecun_normal


def elman_parameters(module, input_size: int, hidden_size: int, dtype, recurrent_init: str, recurrent_scale: float):
    """Declares the Elman-family parameters on ``module`` (call from its compact ``__call__``).

    Returns ``(U [D, H], W [H, H], b [H])``: ``input_kernel`` (LeCun normal),
    ``recurrent_kernel`` (`recurrent_initializer`) and a zero ``bias``.
    """
    U = module.param("input_kernel", input_initializer(), (input_size, hidden_size), dtype)
    W = module.param(
        "recurrent_kernel", recurrent_initializer(recurrent_init, recurrent_scale), (hidden_size, hidden_size), dtype
    )
    b = module.param("bias", nn.initializers.zeros, (hidden_size,), dtype)
    return U, W, b


class ElmanOptions(nn.Module):
    """Options shared by the Elman-family layers and models (`rnn`, `residual_rnn`, `skip_rnn`, ...).

    An architecture's options class extends it with its own fields; its layer and
    its model both inherit that class, so every option is declared once.
    """

    hidden_size: int
    recurrent_init: str = "orthogonal"
    recurrent_scale: float = 1.0
    unroll: int = 1
