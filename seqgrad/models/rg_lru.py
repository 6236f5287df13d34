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

with ``c = 8`` (``c`` option). Shapes: ``x: [B, T, D] -> h: [B, T, H]``;
``W_in: [D, H]``, ``W_a, W_x: [H, H]``, ``Λ, b_a, b_x: [H]``.

The recurrence is linear and diagonal in ``h``: one `jax.lax.associative_scan`
(`recurrence.linear_recurrence`). ``a_t`` is computed in log space (``log a_t =
−c·softplus(−Λ)·r_t``), as in the paper, and ``√(1 − a_t²)`` as
``√(−expm1(2 log a_t))``, accurate for ``a`` near 1.

Initialisation (paper): ``σ(Λ)^c`` uniform in ``[a_min, a_max] = [0.9, 0.999]``.

Gradient flow: ``∂h_T/∂h_t = diag(∏_{s=t+1..T} a_s)`` with ``0 < a_s < 1``: no
explosion, decay set by ``Λ`` and the gate. The normalisation ``√(1 − a²)``
keeps the state's scale: for a constant ``a`` and inputs ``i ⊙ u`` white in time
with variance v, ``Var(h_t) → v(1 − a²)/(1 − a²) = v`` for every ``a``. It does not
normalise a mean: ``E[h] = √((1 + a)/(1 − a))·E[i ⊙ u]``, large for ``a → 1``
(and ``i ⊙ u`` has a non-zero mean when ``i`` reads ``u``).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqgrad.models import recurrence
from seqgrad.models.base import RecurrentModel
from seqgrad.models.initializers import input_initializer
from seqgrad.models.registry import register


def lambda_init(c: float, a_min: float, a_max: float):
    """``Λ`` with ``σ(Λ)^c ~ U[a_min, a_max]``: ``Λ = logit(a^(1/c))``."""

    def init(key, shape, dtype=jnp.float32):
        a = jax.random.uniform(key, shape, dtype, a_min, a_max) ** (1.0 / c)
        return jnp.log(a) - jnp.log1p(-a)

    return init


class RGLRUOptions(nn.Module):
    """The options of `RGLRU` (and of its layer), declared once."""

    hidden_size: int
    c: float = 8.0
    a_min: float = 0.9
    a_max: float = 0.999


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
        gates = jax.nn.sigmoid(u @ W_gates + b_gates)
        r, i = gates[..., :H], gates[..., H:]
        log_a = -self.c * jax.nn.softplus(-lam) * r
        a = jnp.exp(log_a)
        b = jnp.sqrt(-jnp.expm1(2.0 * log_a)) * (i * u)
        h = recurrence.linear_layer(a, b, perturbation=perturbation, truncate=truncate)
        return h, h


def _validate(options):
    c, a_min, a_max = options.get("c", 8.0), options.get("a_min", 0.9), options.get("a_max", 0.999)
    if not c > 0:
        raise ValueError(f"c={c!r} is invalid for 'rg_lru': it must be > 0")
    if not 0.0 < a_min < a_max < 1.0:
        raise ValueError(f"a_min={a_min!r}, a_max={a_max!r} are invalid for 'rg_lru': need 0 < a_min < a_max < 1")


@register(
    "rg_lru",
    path_length="O(T) but linear (0 < a < 1 gated)",
    parallel="yes",
    paper="De et al. 2024, Griffin: mixing gated linear recurrences with local attention (RG-LRU)",
    validate=_validate,
    claim="∂h_T/∂h_t = diag(∏ a_s), 0 < a < 1; √(1 − a²) keeps Var(h) equal to the input variance",
    recurrent_params=("a_param", "gate_kernel"),
)
class RGLRU(RecurrentModel, RGLRUOptions):
    """RG-LRU ``h_t = a_t ⊙ h_{t−1} + √(1 − a_t²) ⊙ (i_t ⊙ u_t)``; ``x: [B, T, D] -> h: [B, T, H]``.

    Options: ``c`` (8.0), ``a_min``/``a_max`` (range of ``σ(Λ)^c`` at init),
    ``num_layers``.
    """

    layer = RGLRULayer
