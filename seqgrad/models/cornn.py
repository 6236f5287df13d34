"""Coupled oscillatory RNN (coRNN).

Rusch & Mishra (2021), "Coupled oscillatory recurrent neural network (coRNN): an
accurate and (gradient) stable architecture for learning long time dependencies".
The second-order ODE ``y″ = σ(W y + 𝒲 y′ + V u + b) − γ y − ε y′``, discretised by
the paper's IMEX scheme (eq. 3), row-vector convention:

    z_t = (z_{t−1} + Δt·(σ(y_{t−1} W + z_{t−1} 𝒲 + x_t V + b) − γ y_{t−1})) / (1 + Δt·ε)
    y_t = y_{t−1} + Δt·z_t

``y`` (hidden, the output) and ``z`` (velocity), both ``[B, H]``; σ = tanh.
Shapes: ``x: [B, T, D] -> h = y: [B, T, H]``; ``V: [D, H]``, ``W, 𝒲: [H, H]``.
Defaults ``Δt = 0.042, γ = 2.7, ε = 4.7`` (the paper's psMNIST setting).
Sites: ``"hidden"`` (``y``) and ``"velocity"`` (``z``).

Gradient bound. With ``D_t = diag σ′ ∈ [0, 1]`` and ``X = (y, z)``, the step
Jacobian has blocks ``∂z_t/∂y = Δt(D_t Wᵀ − γ I)/(1 + Δtε)``,
``∂z_t/∂z = (I + Δt D_t 𝒲ᵀ)/(1 + Δtε)``, ``∂y_t/∂· = [I, 0] + Δt ∂z_t/∂·``, so in
the ∞-norm (max row sum)

    ‖∂X_t/∂X_{t−1}‖_∞ ≤ ρ = max(q, 1 + Δt·q),   q = (1 + Δt(‖W‖_∞ + ‖𝒲‖_∞ + γ)) / (1 + Δt ε)

(``‖W‖_∞``: the max row sum of ``Wᵀ``), and ``‖∂y_T/∂y_t‖_∞ ≤ ρ^(T−t)``: the
per-step growth is at most ``1 + O(Δt)``, the estimate behind the paper's
Proposition 3.1 (no exploding gradients for small Δt). `gradient_bound` computes ρ;
`state_jacobian_bound` is the registry record's bound through which the main job
(`seqgrad.jobs.gradient_flow.measurements`) reads it for the top layer of a model: the measured
``∂y_{T−1}/∂y_{T−1−d}`` (or ``∂z/∂z``) is a diagonal block of the product of d step
Jacobians, so its ∞-norm is at most the product's, at most ρ^d.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from seqgrad.models import recurrence
from seqgrad.models.base import RecurrentModel
from seqgrad.models.initializers import input_initializer
from seqgrad.models.registry import register


def gradient_bound(params, dt: float, gamma: float, epsilon: float):
    """ρ of the module docstring from one layer's params: ``‖∂X_t/∂X_{t−1}‖_∞ ≤ ρ``."""
    row_sum = lambda M: jnp.max(jnp.sum(jnp.abs(M.T), axis=1))  # noqa: E731  ‖Mᵀ‖_∞: h M acts as Mᵀ on columns
    q = (1 + dt * (row_sum(params["recurrent_kernel"]) + row_sum(params["velocity_kernel"]) + gamma)) / (1 + dt * epsilon)
    return jnp.maximum(q, 1 + dt * q)


def state_jacobian_bound(model, params, site: str):
    """ρ of the top layer of ``model`` (a `CoRNN`): ``‖∂h_{T−1}/∂h_{T−1−d}‖_∞ ≤ ρ^d`` at ``site``.

    Args:
      model: a `CoRNN`; its ``dt``, ``gamma``, ``epsilon`` and ``num_layers`` are read.
      params: its variables ``{"params": {"layer_i": ...}}``.
      site: ``"hidden"`` (the (y, y) block) or ``"velocity"`` (the (z, z) block); both
        are blocks of ``∂X_{T−1}/∂X_{T−1−d}``, so one ρ bounds both.

    Returns:
      ρ, a scalar (the lower layers do not enter: a perturbation of the top layer's
      state never reaches them).
    """
    del site
    layer = params["params"][f"layer_{model.num_layers - 1}"]
    return gradient_bound(layer, model.dt, model.gamma, model.epsilon)


class CoRNNOptions(nn.Module):
    """The options of `CoRNN` (and of its layer), declared once."""

    hidden_size: int
    dt: float = 0.042
    gamma: float = 2.7
    epsilon: float = 4.7
    unroll: int = 1


class CoRNNLayer(CoRNNOptions):
    """One coRNN layer: ``x: [B, T, D] -> (y, probe)``, both ``[B, T, H]``."""

    @nn.compact
    def __call__(self, x, perturbation=None, site="hidden", truncate=None):
        H, dtype = self.hidden_size, x.dtype
        V = self.param("input_kernel", input_initializer(), (x.shape[-1], H), dtype)
        W = self.param("recurrent_kernel", input_initializer(), (H, H), dtype)
        W_z = self.param("velocity_kernel", input_initializer(), (H, H), dtype)
        b = self.param("bias", nn.initializers.zeros, (H,), dtype)
        dt, gamma, epsilon = self.dt, self.gamma, self.epsilon
        inputs = recurrence.time_major(x) @ V + b

        def step(carry, u_t):
            y, z = carry["y"], carry["z"]
            z = (z + dt * (jnp.tanh(y @ W + z @ W_z + u_t) - gamma * y)) / (1 + dt * epsilon)
            return {"y": y + dt * z, "z": z}

        zeros = jnp.zeros((x.shape[0], H), dtype)
        key = "z" if site == "velocity" else "y"
        out = recurrence.scan_layer(
            step, {"y": zeros, "z": zeros}, inputs, emit=("y", "z"), perturbation=perturbation, site=key,
            truncate=truncate, unroll=self.unroll,
        )
        return out["y"], out[key]


def _validate(options):
    for key, default in (("dt", 0.042), ("gamma", 2.7), ("epsilon", 4.7)):
        value = options.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"{key}={value!r} is invalid for 'cornn': it must be a number > 0")


@register("cornn", validate=_validate, recurrent_params=("recurrent_kernel", "velocity_kernel"),
          state_jacobian_bound=state_jacobian_bound)
class CoRNN(RecurrentModel, CoRNNOptions):
    """coRNN (IMEX scheme); ``x: [B, T, D] -> y: [B, T, H]``.

    Options: ``dt`` Δt (0.042), ``gamma`` γ (2.7), ``epsilon`` ε (4.7),
    ``num_layers``, ``unroll``. Sites ``"hidden"`` (y) and ``"velocity"`` (z).
    """

    sites = ("hidden", "velocity")

    layer = CoRNNLayer
