"""Exact Jacobians of the last state with respect to every earlier state and input.

For one sequence ``x: [T, D]`` and a model with hidden size H (0-based t, so
``T-1`` is the last step):

    state_jacobians(model, params, x)[t] = ∂h_{T-1}/∂h_t      [T, H, H]
    input_jacobians(model, params, x)[t] = ∂h_{T-1}/∂x_t      [T, H, D]

Column convention: ``J[t][i, j] = ∂h_{T-1, i}/∂h_{t, j}``, so ``J[t]`` maps a
perturbation of ``h_t`` (a column vector) to the change of ``h_{T-1}``. For the
row-vector RNN ``h_t = φ(h_{t-1} W + x_t U + b)`` the one-step Jacobian is
``diag(φ'(z_t)) Wᵀ``, and a linear RNN gives ``J[t] = (Wᵀ)^{T-1-t}``.

``∂h_{T-1}/∂h_t`` is taken along every path of the model: a zero perturbation
``δ_t`` enters the model's *site* after every step (see
`seqgrad.models.recurrence.scan`) and one reverse pass of ``jax.jacrev`` over
``δ ↦ probe_{T-1}`` yields all T blocks at once, in one compiled call; the cost is
linear in T (H cotangents pulled back through the recurrence once). The site is
the carried state for recurrent models (``site="cell"``: the LSTM cell state,
``∂c_{T-1}/∂c_t``), the residual stream entering the first block for the
Transformer and the dilated convolution, whose probe is their output, so
``J[T-1]`` is not I there.

Compiled functions are cached per (model, site): models are hashable flax
dataclasses, so calling again with new params or inputs of the same shape does
not recompile.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array


def _check_sequence(x: Array) -> None:
    if x.ndim != 2:
        raise ValueError(f"x must be one sequence [T, D]; got shape {tuple(x.shape)}")


def _hidden_size(model: nn.Module) -> int:
    return model.hidden_size


@functools.partial(jax.jit, static_argnames=("model", "site"))
def _state_jacobians(model, params, x, site):
    # The site's width: hidden_size, or 2H for the LSTM's full state site "state".
    T, H = x.shape[0], model.site_size(site) if hasattr(model, "site_size") else _hidden_size(model)

    def last_probe(delta):
        _, probe = model.apply(params, x[None], delta[None], site=site, return_probe=True)
        return probe[0, -1]

    jac = jax.jacrev(last_probe)(jnp.zeros((T, H), x.dtype))  # [H, T, H]
    return jnp.swapaxes(jac, 0, 1)


def state_jacobians(model: nn.Module, params, x: Array, *, site: str = "hidden") -> Array:
    """``J[t] = ∂h_{T-1}/∂h_t`` for every t: ``x: [T, D] -> [T, H, H]``.

    Args:
      model: a registered seqgrad model (``models.create(...)``).
      params: its variables (``model.init(...)``); float64 params and x give a
        float64 Jacobian (under ``jax.enable_x64``).
      x: one input sequence ``[T, D]``.
      site: the perturbation site, one of ``model.sites``.

    Returns:
      ``[T, H, H]``; ``J[T-1] = I`` for models whose probe is their state
      (``models.info(name).probe_is_state``).
    """
    _check_sequence(x)
    return _state_jacobians(model, params, x, site)


@functools.partial(jax.jit, static_argnames=("model",))
def _input_jacobians(model, params, x):
    def last_output(x):
        return model.apply(params, x[None])[0, -1]

    return jnp.swapaxes(jax.jacrev(last_output)(x), 0, 1)  # [H, T, D] -> [T, H, D]


def input_jacobians(model: nn.Module, params, x: Array) -> Array:
    """``J[t] = ∂h_{T-1}/∂x_t`` for every t, ``h`` the model's output: ``x: [T, D] -> [T, H, D]``."""
    _check_sequence(x)
    return _input_jacobians(model, params, x)
