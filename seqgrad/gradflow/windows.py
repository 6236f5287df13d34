"""State-Jacobian stacks of a window: ``∂h_{L-1}/∂h_t`` for the last W steps of a sequence, after a burn-in.

The window's first steps are a burn-in that carries the state away from its zero start,
so the profile reads the driven dynamics (`window_jacobians`); `jacobians_by_length`
gives the zero-state profiles of several prefix lengths instead. `module_blocks` cuts a
clockwork RNN's stack into the diagonal blocks of its modules.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from seqgrad.gradflow import profile


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
    `recurrence.Window` (the burn-in runs forward only: ``window`` reverse steps per
    cotangent, not L); other models get δ padded with zeros (L reverse steps, same numbers).
    Time order: row ``window − 1 − d`` is ``J(d)``.
    """
    L, n = x.shape[0], profile.site_width(model, site)
    lead = L - window

    def last(perturbation):
        _, p = model.apply(params, x[None], perturbation, site=site, return_probe=True)
        return p[0, L - 1]

    J = profile.through_window(lambda f, z: jax.jacrev(f)(z), last, jnp.zeros((window, n), x.dtype), lead)
    return jnp.swapaxes(J, 0, 1)  # [n, W, n] -> [W, n, n]
