"""Recurrent-weight initialisers selectable by name from configs.

All return a flax initializer ``(key, shape, dtype) -> [H, H]`` for a square
recurrent matrix, scaled by ``scale``:

* ``orthogonal``: ``scale · Q`` with Q Haar-orthogonal (Saxe et al. 2014): every
  singular value equals ``scale``.
* ``identity``: ``scale · I`` (IRNN, Le et al. 2015).
* ``normal``: i.i.d. ``N(0, scale² / H)``, spectral radius ≈ ``scale``
  (circular law).

As remedies (docs/remedies.md), their predicted profiles ‖∂h_T/∂h_{T−d}‖ for a tanh
Elman RNN driven with input scale s: ``normal`` and ``orthogonal`` at gain g both decay
as ``e^{d·½ln χ₁(g, s)}`` (`seqgrad.models.meanfield`; orthogonal keeps every singular
value at ``scale`` only for a linear φ); ``identity`` with ReLU (IRNN) passes the
gradient unchanged along the units that stay active; the rnn's ``"critical"`` is
``normal`` at the gain where χ₁ = 1 (`seqgrad.models.rnn`).
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


def chrono_log_times(key, size: int, t_max: int, dtype=jnp.float32) -> jax.Array:
    """``[size]`` values ``log u``, ``u ~ U(1, t_max − 1)``: chrono initialisation's gate biases.

    Tallec & Ollivier (2018), "Can recurrent neural networks warp time?": a gate that
    keeps ``σ(log u) = u/(1 + u)`` of the state per step forgets over ``≈ 1 + u`` steps,
    so the units' characteristic times spread over ``2 … t_max`` (the range of delays
    the task needs). An LSTM takes ``b_f = log u``, ``b_i = −b_f``; the GRU, whose keep
    gate is ``1 − z`` here, ``b_z = −log u`` (`seqgrad.models.gru`).
    """
    u = jax.random.uniform(key, (size,), jnp.float32, 1.0, max(float(t_max) - 1.0, 1.0))
    return jnp.log(u).astype(dtype)


def check_chrono(options) -> None:
    """Raises `ValueError` unless ``options["chrono"]`` (if present) is an integer >= 0 (0 = off)."""
    value = options.get("chrono", 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            f"chrono={value!r} is invalid: it must be an integer >= 0 (0 = off; T_max, e.g. the task's delay)"
        )


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


class GatedOptions(nn.Module):
    """Options shared by the gated cells `lstm` and `gru`, as `ElmanOptions` for the Elman family.

    ``chrono``: T_max > 0 replaces the gate-bias option by chrono initialisation (`chrono_log_times`),
    0 = off; ``unroll``: the scan unroll factor (1, chosen with benchmarks/bench_cells.py, CPU, float32);
    ``fused``: plain calls run the cell's hand-written VJP (`seqgrad.models.handwritten_vjp`). Each
    cell's options class adds its own gate-bias field (``forget_bias``, ``update_bias``).
    """

    hidden_size: int
    chrono: int = 0
    unroll: int = 1
    fused: bool = True
