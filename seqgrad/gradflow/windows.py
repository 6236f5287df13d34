"""State-Jacobian stacks of a window: ``∂h_{L-1}/∂h_t`` for the last W steps of a sequence, after a burn-in.

The window's first steps are a burn-in that carries the state away from its zero start,
so the profile reads the driven dynamics (`window_jacobians`); `jacobians_by_length`
gives the zero-state profiles of several prefix lengths instead. `module_blocks` cuts a
clockwork RNN's stack into the diagonal blocks of its modules. `through_window` is the
pullback (or Jacobian) of a perturbation of the last W steps only, which both these stacks and the
near-distance singular values of `seqgrad.gradflow.jacobian_profile` use.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from seqgrad.gradflow.sites import site_width
from seqgrad.models.perturbation import Window, WindowUnsupported


def module_blocks(J, num_modules: int):
    """``[T, H, H] -> [T, G, H/G, H/G]``: the diagonal block of every module (clockwork order)."""
    m = J.shape[-1] // num_modules
    return jnp.stack([J[:, g * m:(g + 1) * m, g * m:(g + 1) * m] for g in range(num_modules)], axis=1)


def jacobians_by_length(model, params, x, site: str, lengths) -> list:
    """``[∂h_{T-1}/∂h_t for t < T]`` (each ``[T, n, n]``) for every T in ``lengths``, from ``x: [T_max, D]``.

    The zero-state profiles (``config.burn_in = 0``): every model is causal, so each length is
    one ``jax.jacrev`` on its own prefix ``x[:T]``: n cotangents pulled back through T steps,
    Σ_T T·n step-cotangents in all (one pass over ``x[:T_max]`` with a cotangent on every
    ``h_{T-1}`` would cost len(lengths)·T_max·n, and a quadratic model's attention over T_max
    for every length).
    """
    return [window_jacobians(model, params, x[: int(T)], site, int(T)) for T in lengths]


def window_jacobians(model, params, x, site: str, window: int):
    """``∂h_{L-1}/∂h_t`` for the last ``window`` steps ``t = L − window … L − 1`` of ``x: [L, D]``: ``[window, n, n]``.

    The perturbation δ_t enters only inside the window (the first ``L − window`` steps are a
    burn-in that carries the state away from its zero start); one ``jax.jacrev`` pulls n
    cotangents back from ``h_{L-1}``. A step-wise recurrence takes the window as a
    `perturbation.Window` (the burn-in runs forward only: ``window`` reverse steps per
    cotangent, not L); other models get δ padded with zeros (L reverse steps, same numbers).
    Time order: row ``window − 1 − d`` is ``J(d)``.
    """
    L, n = x.shape[0], site_width(model, site)
    lead = L - window

    def last(perturbation):
        _, p = model.apply(params, x[None], perturbation, site=site, return_probe=True)
        return p[0, L - 1]

    J = through_window(lambda f, z: jax.jacrev(f)(z), last, jnp.zeros((window, n), x.dtype), lead)
    return jnp.swapaxes(J, 0, 1)  # [n, W, n] -> [W, n, n]


def through_window(transform, last, zeros, lead: int):
    """``transform(δ ↦ last(perturbation), zeros)`` (``jax.vjp``, or a jacobian) for a perturbation ``δ: [W, n]``
    of the last W steps after ``lead`` others.

    ``last`` takes the model's batch-major perturbation. A step-wise scan takes it as a `perturbation.Window`
    (the lead runs forward only: W reverse steps per cotangent); a model that refuses it while tracing (an
    associative scan, attention) gets δ padded with ``lead`` zeros (same numbers, L reverse steps).
    """
    if not lead:
        return transform(lambda delta: last(delta[None]), zeros)
    try:
        return transform(lambda delta: last(Window(delta[None], lead)), zeros)
    except (WindowUnsupported, TypeError, AttributeError):  # not a step-wise scan at the site
        pad = jnp.zeros((lead, zeros.shape[-1]), zeros.dtype)
        return transform(lambda delta: last(jnp.concatenate([pad, delta])[None]), zeros)
