"""Decay of Jacobian norms with distance: a fitted rate per step and the memory horizon.

A multiplicative chain gives ``‖J(d)‖ ≈ C·ρ^d``; the fitted decay rate is the
least-squares slope of ``ln ‖J(d)‖`` against d (nats per step: negative when
gradients vanish, positive when they explode; ``ρ = e^rate`` is the factor per
step). The memory horizon is the first distance ``d ≥ 1`` where the norm falls
below ``threshold · ‖J(1)‖``. Both run on host numpy over the (median) norms of an
analysis: a few hundred numbers, no tracing.
"""

from __future__ import annotations

import numpy as np


def fit_decay_rate(norms, *, min_distance: int = 1, valid=None) -> dict[str, float]:
    """Least-squares fit ``ln ‖J(d)‖ = a + rate·d`` over ``d ≥ min_distance``.

    Args:
      norms: ``[T]`` norms indexed by distance d.
      min_distance: first distance fitted (d = 0 is the identity for state probes).
      valid: optional ``[T]`` bool mask; zeros and non-finite values are always
        excluded (an underflowed 0 is not a measurement).

    Returns:
      ``{"rate": nats per step, "factor": e^rate, "r2": coefficient of
      determination, "points": number fitted}``; rate is nan with fewer than two
      points or a constant log-norm gives ``r2 = 1``.
    """
    norms = np.asarray(norms, np.float64)
    d = np.arange(norms.shape[0])
    keep = (d >= min_distance) & np.isfinite(norms) & (norms > 0)
    if valid is not None:
        keep &= np.asarray(valid, bool)
    if keep.sum() < 2:
        return {"rate": float("nan"), "factor": float("nan"), "r2": float("nan"), "points": int(keep.sum())}
    x, y = d[keep].astype(np.float64), np.log(norms[keep])
    rate, intercept = np.polyfit(x, y, 1)
    residual = y - (intercept + rate * x)
    spread = np.sum((y - y.mean()) ** 2)
    r2 = 1.0 - np.sum(residual**2) / spread if spread > 0 else 1.0
    return {"rate": float(rate), "factor": float(np.exp(rate)), "r2": float(r2), "points": int(keep.sum())}


def memory_horizon(norms, threshold: float) -> int | None:
    """First distance ``d ≥ 1`` with ``‖J(d)‖ < threshold · ‖J(1)‖``; None if it never falls that low.

    A zero (underflow or exact) counts as below the threshold.
    """
    if not 0 < threshold < 1:
        raise ValueError(f"threshold={threshold!r} is invalid: it must lie in (0, 1)")
    norms = np.asarray(norms, np.float64)
    if norms.shape[0] < 2:
        return None
    if norms[1] == 0:
        return 1
    below = np.nonzero(norms[1:] < threshold * norms[1])[0]
    return int(below[0]) + 1 if below.size else None
