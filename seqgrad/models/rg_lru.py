"""Real-Gated Linear Recurrent Unit (RG-LRU) of Griffin and Hawk.

De, Smith, Fernando, Botev, Cristian-Muraru, Gu, Haroun, Berrada, Chen,
Srinivasan, Desjardins, Doucet, Budden, Teh, Pascanu, de Freitas & Gulcehre (2024),
"Griffin: mixing gated linear recurrences with local attention for efficient
language models", Sec. 2.4. With ``u_t = x_t W_in`` (the input projection that
feeds the unit, ``D -> H``) and row-vector convention:

    r_t = σ(u_t W_a + b_a)                      # recurrence gate   [B, H]
    i_t = σ(u_t W_x + b_x)                      # input gate        [B, H]
    a_t = σ(Λ)^(c·r_t) = exp(−c·softplus(−Λ)·r_t)
    h_t = a_t ⊙ h_{t−1} + √(1 − a_t²) ⊙ (i_t ⊙ u_t)

with ``c = 8`` (``c`` option); ``constant_gate=True`` fixes ``r_t = 1``, so that
``a_t = a = σ(Λ)^c`` per unit, constant in time. Shapes: ``x: [B, T, D] -> h: [B, T, H]``;
``W_in: [D, H]``, ``W_a, W_x: [H, H]``, ``Λ, b_a, b_x: [H]``.

The recurrence is linear and diagonal in ``h``: one `jax.lax.associative_scan`
(`linear_scan.linear_recurrence`). ``a_t`` is computed in log space (``log a_t =
−c·softplus(−Λ)·r_t``), as in the paper, and ``√(1 − a_t²)`` as
``√(−expm1(2 log a_t))``, accurate for ``a`` near 1.

Initialisation (paper): ``σ(Λ)^c`` uniform in ``[a_min, a_max] = [0.9, 0.999]``.

Gradient flow: ``∂h_T/∂h_t = diag(∏_{s=t+1..T} a_s)`` with ``0 < a_s < 1``: no
explosion, decay set by ``Λ`` and the gate. The normalisation ``√(1 − a²)``
keeps the state's scale: for inputs ``v_t = i_t ⊙ u_t`` white in time with
variance v and gates independent of them, ``Var(h_t) = v·(1 − ∏_{s≤t} a_s²)`` from
``h_{−1} = 0`` (the sum ``Σ_k ∏ a²·(1 − a²)`` telescopes), ``→ v`` for every ``a``.
Both closed forms are exact where the gate is constant (``constant_gate=True``:
``∂h_T/∂h_t = diag(a^(T−t))``, ``Var(h_t) = v·(1 − a^(2(t+1)))``, x white noise); the
default gate ``r_t`` reads ``u_t``, so ``a_t`` and ``v_t`` are correlated and the
variance form is an approximation. It does not normalise a mean:
``E[h] = √((1 + a)/(1 − a))·E[i ⊙ u]``, large for ``a → 1`` (and ``i ⊙ u`` has a
non-zero mean when ``i`` reads ``u``).

Option ``normalize`` (default True): False drops the factor,
``h_t = a_t ⊙ h_{t−1} + i_t ⊙ u_t``, whose stationary variance is
``v/(1 − a²)`` (×10 at ``a = 0.95``, ×1000 at ``a = 0.9995``): the contrast the
main job's normalisation claim reads. `layer_terms` is the layer's computation
as a pure function of (params, x); `state_variance_ratio` is the main job's hook
that measures ``Var(h_t)`` against ``(1 − ∏_{s≤t} a_s²)·Var(i_t ⊙ u_t)`` with it.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqgrad.models import linear_scan, recurrence
from seqgrad.models.base import RecurrentModel
from seqgrad.models.initializers import input_initializer
from seqgrad.models.registry import check_bool, register


def lambda_init(c: float, a_min: float, a_max: float):
    """``Λ`` with ``σ(Λ)^c ~ U[a_min, a_max]``: ``Λ = logit(a^(1/c))``."""

    def init(key, shape, dtype=jnp.float32):
        a = jax.random.uniform(key, shape, dtype, a_min, a_max) ** (1.0 / c)
        return jnp.log(a) - jnp.log1p(-a)

    return init


def _coefficients(params, u, c: float, normalize: bool, constant_gate: bool = False):
    """``(a, b, v)`` of ``h_t = a_t ⊙ h_{t−1} + b_t`` from the unit's input ``u: [..., H]``.

    ``v = i ⊙ u`` (the gated input), ``b = √(1 − a²) ⊙ v`` (``normalize``) or ``v``;
    ``a = σ(Λ)^(c·r)``, with ``r = 1`` where ``constant_gate`` (the gate kernel's ``W_a`` half unused).
    """
    H = u.shape[-1]
    gates = jax.nn.sigmoid(u @ params["gate_kernel"] + params["gate_bias"])
    r, i = (jnp.ones_like(u) if constant_gate else gates[..., :H]), gates[..., H:]
    log_a = -c * jax.nn.softplus(-params["a_param"]) * r
    v = i * u
    b = jnp.sqrt(-jnp.expm1(2.0 * log_a)) * v if normalize else v
    return jnp.exp(log_a), b, v


def layer_terms(params, x, *, c: float = 8.0, normalize: bool = True, constant_gate: bool = False) -> dict:
    """One RG-LRU layer on one sequence, as a pure function: its coefficients, gated input and state.

    Args:
      params: one layer's parameters ``{"input_kernel": [D, H], "gate_kernel": [H, 2H],
        "gate_bias": [2H], "a_param": [H]}`` (``params["params"]["layer_i"]``).
      x: ``[T, D]`` the layer's input.
      c, normalize, constant_gate: the model's options.

    Returns:
      ``{"a": [T, H], "v": [T, H], "h": [T, H]}``: ``a_t``, the gated input
      ``v_t = i_t ⊙ u_t`` (``u_t = x_t W_in``) and the state
      ``h_t = a_t ⊙ h_{t−1} + √(1 − a_t²) ⊙ v_t`` (``+ v_t`` when not ``normalize``), ``h_{−1} = 0``.
      The layer itself computes exactly this (one shared code path).
    """
    a, b, v = _coefficients(params, x @ params["input_kernel"], c, normalize, constant_gate)
    return {"a": a, "v": v, "h": linear_scan.linear_recurrence(a, b)}


def zero_state_fraction(a):
    """``1 − ∏_{s ≤ t} a_s²`` along the time axis (−2) of ``a: [..., T, H]``: the share of the input's variance
    that ``h_t = a_t ⊙ h_{t−1} + √(1 − a_t²) ⊙ v_t`` holds at step t from ``h_{−1} = 0`` when ``v`` is white and
    independent of the gates (``1 − a^(2(t+1))`` for a constant ``a``); computed in log space."""
    return -jnp.expm1(2.0 * jnp.cumsum(jnp.log(a), axis=-2))


def state_variance_ratio(model, params, xs):
    """The top layer's ``Var(h_t)`` over its closed form ``(1 − ∏_{s≤t} a_s²)·Var(v_t)``, second half of the
    sequences (the main job's hook).

    Args:
      model: an `RGLRU` (its ``c``, ``normalize``, ``constant_gate``, ``num_layers`` are read).
      params: its variables.
      xs: ``[I, T, D]`` independent input sequences, ``I ≥ 2``.

    Returns:
      a scalar: ``Σ_{t ≥ T/2, j} Var_i(h_{t,j}) / Σ_{t ≥ T/2, j} F_{t,j}·Var_i(v_{t,j})``, the variances over the
      I sequences at each step and unit (an ensemble variance: the mean of ``h``, which drifts for ``a``
      near 1, is removed at every step), ``v = i ⊙ u`` the top layer's gated input and
      ``F = mean_i(1 − ∏_{s≤t} a_s²)`` (`zero_state_fraction`) the share of ``Var(v)`` that the normalised
      recurrence reaches by step t from the zero state. For ``constant_gate`` and white ``v`` (one layer,
      ``x`` white noise) ``Var(h_t) = (1 − a^(2(t+1)))·Var(v)`` exactly, so the ratio is 1 up to sampling
      error whatever the window and the ``a``'s; without the factor (``normalize=False``) it is the
      ``F·Var(v)``-weighted mean of ``1/(1 − a²)``. At the input-dependent gate ``a_t`` and ``v_t`` are
      correlated (and a lower layer's output is not white): there its distance from 1 is what a check reads.
      Dividing by ``F`` is what makes the window match the closed form: the plain ratio
      ``Σ Var(h)/Σ Var(v)`` over the second half is below 1 by the start-up share ``a^(2(t+1))`` of units
      with ``a`` near 1. nan when ``I < 2``.
    """
    if xs.shape[0] < 2:
        return jnp.asarray(jnp.nan, xs.dtype)
    h = xs
    for index in range(model.num_layers):
        terms = jax.vmap(lambda x: layer_terms(params["params"][f"layer_{index}"], x, c=model.c,
                                               normalize=model.normalize, constant_gate=model.constant_gate))(h)
        h = terms["h"]
    half = xs.shape[1] // 2
    var = lambda a: jnp.var(a[:, half:], axis=0, ddof=1)  # noqa: E731
    fraction = jnp.mean(zero_state_fraction(terms["a"]), axis=0)[half:]
    return jnp.sum(var(terms["h"])) / jnp.sum(fraction * var(terms["v"]))


class RGLRUOptions(nn.Module):
    """The options of `RGLRU` (and of its layer), declared once."""

    hidden_size: int
    c: float = 8.0
    a_min: float = 0.9
    a_max: float = 0.999
    normalize: bool = True
    constant_gate: bool = False


class RGLRULayer(RGLRUOptions):
    """One RG-LRU layer: ``x: [B, T, D] -> (h, h)``, both ``[B, T, H]``."""

    @nn.compact
    def __call__(self, x, perturbation=None, site="hidden", truncate=None):
        H, dtype = self.hidden_size, x.dtype
        W_in = self.param("input_kernel", input_initializer(), (x.shape[-1], H), dtype)
        W_gates = self.param("gate_kernel", input_initializer(), (H, 2 * H), dtype)  # (W_a, W_x)
        b_gates = self.param("gate_bias", nn.initializers.zeros, (2 * H,), dtype)
        lam = self.param("a_param", lambda_init(self.c, self.a_min, self.a_max), (H,), dtype)
        u = recurrence.time_major(x) @ W_in  # [T, B, H]
        a, b, _ = _coefficients({"gate_kernel": W_gates, "gate_bias": b_gates, "a_param": lam}, u, self.c,
                                self.normalize, self.constant_gate)
        h = linear_scan.linear_layer(a, b, perturbation=perturbation, truncate=truncate)
        return h, h


def _validate(options):
    check_bool(options, "normalize", "constant_gate")
    c, a_min, a_max = options.get("c", 8.0), options.get("a_min", 0.9), options.get("a_max", 0.999)
    if not c > 0:
        raise ValueError(f"c={c!r} is invalid for 'rg_lru': it must be > 0")
    if not 0.0 < a_min < a_max < 1.0:
        raise ValueError(f"a_min={a_min!r}, a_max={a_max!r} are invalid for 'rg_lru': need 0 < a_min < a_max < 1")


@register("rg_lru", validate=_validate, recurrent_params=("a_param", "gate_kernel"),
          state_variance_ratio=state_variance_ratio)
class RGLRU(RecurrentModel, RGLRUOptions):
    """RG-LRU ``h_t = a_t ⊙ h_{t−1} + √(1 − a_t²) ⊙ (i_t ⊙ u_t)``; ``x: [B, T, D] -> h: [B, T, H]``.

    Options: ``c`` (8.0), ``a_min``/``a_max`` (range of ``σ(Λ)^c`` at init),
    ``normalize`` (True: the factor ``√(1 − a²)``; False: ``h_t = a_t ⊙ h_{t−1} + i_t ⊙ u_t``),
    ``constant_gate`` (False: ``r_t = σ(u_t W_a + b_a)``; True: ``r_t = 1``, ``a = σ(Λ)^c`` constant in time),
    ``num_layers``.
    """

    layer = RGLRULayer
