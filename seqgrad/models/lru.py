"""Linear Recurrent Unit (LRU).

Orvieto, Smith, Gu, Fernando, Gulcehre, Pascanu & De (2023), "Resurrecting
recurrent neural networks for long sequences". With ``N = H / 2`` complex state
units and row-vector convention:

    u_t = x_t W_in                                  # input projection, D -> H
    λ   = exp(−exp(ν_log) + i·exp(θ_log))            # [N], |λ| = exp(−exp(ν_log)) < 1
    x_t = λ ⊙ x_{t−1} + γ ⊙ (u_t B)                 # B: [H, N] complex, γ = exp(γ_log)
    h_t = Re(x_t C) + D ⊙ u_t                       # C: [N, H] complex, D: [H]

Shapes: ``x: [B, T, D] -> h: [B, T, H]``. The recurrence is linear and diagonal,
so it runs as one `jax.lax.associative_scan` (`linear_scan.linear_recurrence`):
O(log T) depth, no `lax.scan`.

Initialisation (paper, Sec. 3.2-3.3): ``|λ|`` uniform on the ring
``r_min ≤ |λ| ≤ r_max`` (``|λ|² = u₁(r_max² − r_min²) + r_min²``), phase
``arg λ = u₂·max_phase``, ``u₁, u₂ ~ U[0, 1)``; the normalisation
``γ = sqrt(1 − |λ|²)`` keeps the state variance equal to the input variance for
white-noise inputs and is a trainable ``γ_log``.

Gradient flow: ``∂x_T/∂x_t = diag(λ^(T−t))``, with no nonlinearity on the path:
the decay per step is ``|λ|``, chosen by design (the ring init) instead of
emerging from ``W`` and ``φ'``. In the real view ``[Re x, Im x]`` (the
perturbation site and probe, ``H`` entries) each unit is the 2×2 rotation-scaling
block ``|λ|^d [[cos dθ, −sin dθ], [sin dθ, cos dθ]]``.

Complex parameters are stored as real pairs (``B_re``, ``B_im``, ``C_re``,
``C_im``) so every parameter leaf is real and follows the input dtype.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqgrad.models import linear_scan, recurrence
from seqgrad.models.base import RecurrentModel
from seqgrad.models.initializers import input_initializer
from seqgrad.models.registry import register, registered


def nu_log_init(r_min: float, r_max: float):
    """``ν_log = log(−½ log(u₁(r_max² − r_min²) + r_min²))``, so ``|λ| = exp(−exp(ν_log))`` lies on the ring."""

    def init(key, shape, dtype=jnp.float32):
        u = jax.random.uniform(key, shape, dtype)
        return jnp.log(-0.5 * jnp.log(u * (r_max**2 - r_min**2) + r_min**2))

    return init


def theta_log_init(max_phase: float):
    """``θ_log = log(u₂ · max_phase)``, so ``arg λ = exp(θ_log)`` is uniform on ``[0, max_phase)``."""

    def init(key, shape, dtype=jnp.float32):
        u = jax.random.uniform(key, shape, dtype)
        return jnp.log(max_phase * u)

    return init


def eigenvalues(nu_log, theta_log):
    """``λ = exp(−exp(ν_log) + i·exp(θ_log))`` (complex, dtype following the inputs)."""
    return jnp.exp(jax.lax.complex(-jnp.exp(nu_log), jnp.exp(theta_log)))


def gamma_log_init(key, nu_log):
    """``γ_log = log sqrt(1 − |λ|²)`` with ``|λ|² = exp(−2 exp(ν_log))``."""
    del key
    return 0.5 * jnp.log1p(-jnp.exp(-2.0 * jnp.exp(nu_log)))


class LRUOptions(nn.Module):
    """The options of `LRU` (and of its layer), declared once."""

    hidden_size: int
    r_min: float = 0.9
    r_max: float = 0.999
    max_phase: float = 2 * math.pi


class LRULayer(LRUOptions):
    """One LRU layer: ``x: [B, T, D] -> (h, state)``, ``h: [B, T, H]``, ``state = [Re x, Im x]: [B, T, H]``."""

    @nn.compact
    def __call__(self, x, perturbation=None, site="hidden", truncate=None):
        H = self.hidden_size
        N = H // 2
        dtype = x.dtype
        W_in = self.param("input_kernel", input_initializer(), (x.shape[-1], H), dtype)
        nu_log = self.param("nu_log", nu_log_init(self.r_min, self.r_max), (N,), dtype)
        theta_log = self.param("theta_log", theta_log_init(self.max_phase), (N,), dtype)
        gamma_log = self.param("gamma_log", gamma_log_init, nu_log)
        # Paper init: B ~ N(0, 1/(2H)) per real part, C ~ N(0, 1/N), D ~ N(0, 1).
        b_init = nn.initializers.normal(stddev=1.0 / math.sqrt(2 * H))
        c_init = nn.initializers.normal(stddev=1.0 / math.sqrt(N))
        B_re = self.param("B_re", b_init, (H, N), dtype)
        B_im = self.param("B_im", b_init, (H, N), dtype)
        C_re = self.param("C_re", c_init, (N, H), dtype)
        C_im = self.param("C_im", c_init, (N, H), dtype)
        D = self.param("D", nn.initializers.normal(stddev=1.0), (H,), dtype)

        lam = eigenvalues(nu_log, theta_log)
        u = recurrence.time_major(x) @ W_in  # [T, B, H]; transpose the narrower [B, T, D]
        # (u B) γ: B and γ are complex/real [H, N] and [N]; one GEMM per real part.
        gamma = jnp.exp(gamma_log)
        b = jax.lax.complex(u @ B_re, u @ B_im) * gamma  # [T, B, N]
        a = jnp.broadcast_to(lam, b.shape)
        delta = None if perturbation is None else recurrence.time_major(perturbation)  # real view [Re, Im]
        state = linear_scan.linear_recurrence(a, b, perturbation=delta, truncate=truncate)  # [T, B, N] complex
        # Re(x C) = Re x · C_re − Im x · C_im.
        h = state.real @ C_re - state.imag @ C_im + D * u
        probe = jnp.concatenate([state.real, state.imag], axis=-1)
        return recurrence.batch_major(h), recurrence.batch_major(probe)


def _validate(options):
    opts = {**registered("lru").options, **options}
    H = opts["hidden_size"]
    if H % 2:
        raise ValueError(
            f"hidden_size={H!r} is invalid for 'lru': it must be even (H/2 complex state units, "
            "real view [Re x, Im x])"
        )
    r_min, r_max = opts["r_min"], opts["r_max"]
    if not 0.0 <= r_min < r_max <= 1.0:
        raise ValueError(
            f"r_min={r_min!r}, r_max={r_max!r} are invalid for 'lru': need 0 <= r_min < r_max <= 1"
        )
    if not opts["max_phase"] > 0.0:
        raise ValueError(f"max_phase={opts['max_phase']!r} is invalid for 'lru': it must be > 0")


@register("lru", validate=_validate, recurrent_params=("nu_log", "theta_log"))
class LRU(RecurrentModel, LRUOptions):
    """Linear Recurrent Unit ``x_t = λ ⊙ x_{t−1} + γ ⊙ (B u_t)``, ``h_t = Re(C x_t) + D ⊙ u_t``.

    ``x: [B, T, D] -> h: [B, T, H]``; ``H`` (``hidden_size``) must be even: the
    state has ``H/2`` complex units and its real view ``[Re x, Im x]`` (``H``
    entries) is the perturbation site and the probe.

    Options: ``r_min``, ``r_max`` (ring of ``|λ|`` at init, ``0 ≤ r_min < r_max ≤ 1``),
    ``max_phase`` (``arg λ`` uniform on ``[0, max_phase)``), ``num_layers``.
    """

    layer = LRULayer
