"""Decay of Jacobian norms with distance: rate, horizons, regime and shape of a profile.

A multiplicative chain gives ``‖J(d)‖ ≈ C·ρ^d``; the fitted decay rate is the
least-squares slope of ``ln ‖J(d)‖`` against d (nats per step: negative when
gradients vanish, positive when they explode; ``ρ = e^rate`` is the factor per
step). Not every profile is such a chain, so the rate is read together with

* `memory_horizon`: the *last* distance ``d ≥ 1`` with ``‖J(d)‖ ≥ threshold·‖J(1)‖``
  (a periodic profile such as a skip RNN's, ≈ 1 at multiples of k and ≈ 0 in
  between, keeps its horizon at the last multiple); `first_drop_horizon` is the
  earlier definition, the first distance where the norm falls below the threshold;
* `regime`: vanishing, preserved, exploding or non-monotone, from norm ratios;
* `profile_shape`: whether an exponential describes the profile at all (fit
  quality r², a drop followed by a plateau, a flat profile).

All of it runs on host numpy over a few hundred numbers: no tracing.
"""

from __future__ import annotations

import numpy as np

VANISHING, PRESERVED, EXPLODING, NON_MONOTONE = "vanishing", "preserved", "exploding", "non-monotone"
REGIMES = (VANISHING, PRESERVED, EXPLODING, NON_MONOTONE)
EXPONENTIAL, FLAT, DROP_THEN_PLATEAU, NOT_EXPONENTIAL = "exponential", "flat", "drop then plateau", "not exponential"
SHAPES = (EXPONENTIAL, FLAT, DROP_THEN_PLATEAU, NOT_EXPONENTIAL)


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


def lattice_decay_rate(norms, period: int) -> dict[str, float]:
    """`fit_decay_rate` over the distances ``d = period, 2·period, …`` only (a skip RNN's lattice)."""
    norms = np.asarray(norms, np.float64)
    d = np.arange(norms.shape[0])
    return fit_decay_rate(norms, min_distance=period, valid=(d % period == 0))


def _check_threshold(threshold: float) -> None:
    if not 0 < threshold < 1:
        raise ValueError(f"threshold={threshold!r} is invalid: it must lie in (0, 1)")


def memory_horizon(norms, threshold: float) -> int | None:
    """Last distance ``d ≥ 1`` with ``‖J(d)‖ ≥ threshold · ‖J(1)‖``; None if that is the last distance T-1.

    None means "no horizon within T" (the norm is still above the threshold at
    the largest measured distance). 0 means the norm is below it already at
    d = 1 (``‖J(1)‖ = 0``). A zero (underflow or exact) counts as below.
    """
    _check_threshold(threshold)
    norms = np.asarray(norms, np.float64)
    if norms.shape[0] < 2:
        return None
    if not norms[1] > 0:
        return 0
    above = np.nonzero(norms[1:] >= threshold * norms[1])[0] + 1
    last = int(above[-1])
    return None if last == norms.shape[0] - 1 else last


def first_drop_horizon(norms, threshold: float) -> int | None:
    """First distance ``d ≥ 1`` with ``‖J(d)‖ < threshold · ‖J(1)‖``; None if it never falls that low.

    The memory horizon of earlier seqgrad versions: it reads a periodic profile
    at its first trough. A zero (underflow or exact) counts as below the threshold.
    """
    _check_threshold(threshold)
    norms = np.asarray(norms, np.float64)
    if norms.shape[0] < 2:
        return None
    if norms[1] == 0:
        return 1
    below = np.nonzero(norms[1:] < threshold * norms[1])[0]
    return int(below[0]) + 1 if below.size else None


def _log10(norms) -> np.ndarray:
    norms = np.asarray(norms, np.float64)
    with np.errstate(divide="ignore"):
        return np.where(norms > 0, np.log10(np.where(norms > 0, norms, 1.0)), -np.inf)


def regime(norms, *, growth: float, preserved: float, rebound_decades: float) -> str:
    """Vanishing, preserved, exploding or non-monotone, from ``‖J(d)‖/‖J(1)‖`` over ``d ≥ 1``.

    * non-monotone: some distance lies ``rebound_decades`` below an earlier norm
      *and* below a later one (a dip and a recovery: periodic or oscillating);
    * exploding: otherwise, the norm reaches ``growth · ‖J(1)‖`` somewhere;
    * preserved: otherwise, ``‖J(T-1)‖ ≥ preserved · ‖J(1)‖``;
    * vanishing: otherwise (including a zero ‖J(1)‖ or zeros at the end).
    """
    logs = _log10(norms)[1:]
    if logs.size == 0 or not np.isfinite(logs[0]):
        return VANISHING
    before = np.maximum.accumulate(np.concatenate([[-np.inf], logs[:-1]]))
    after = np.maximum.accumulate(np.concatenate([logs[1:], [-np.inf]])[::-1])[::-1]
    dip = (logs <= before - rebound_decades) & (logs <= after - rebound_decades) & np.isfinite(after)
    if np.any(dip):
        return NON_MONOTONE
    if np.max(logs) >= logs[0] + np.log10(growth):
        return EXPLODING
    if logs[-1] >= logs[0] + np.log10(preserved):
        return PRESERVED
    return VANISHING


def profile_shape(norms, *, min_r2: float, flat_rate: float, plateau_decades: float, min_distance: int = 1) -> dict:
    """Whether ``ln ‖J(d)‖`` is a straight line in d, and if not, what it is instead.

    * flat: the fitted ``|rate| ≤ flat_rate`` and the whole profile within
      ``plateau_decades`` of itself (no decay worth a rate, no oscillation);
    * drop then plateau: the first half of the profile falls by at least
      ``plateau_decades`` while the second half is flat (``|rate| ≤ flat_rate``);
    * exponential: otherwise, when the fit has ``r² ≥ min_r2``;
    * not exponential: otherwise (the rate is then a T-dependent slope, not a rate).

    Returns ``{"shape", "rate", "r2", "rate_first_half", "rate_second_half"}``.
    """
    norms = np.asarray(norms, np.float64)
    T = norms.shape[0]
    fit = fit_decay_rate(norms, min_distance=min_distance)
    d = np.arange(T)
    half = max(min_distance + 1, T // 2)
    first = fit_decay_rate(norms, min_distance=min_distance, valid=d < half)
    second = fit_decay_rate(norms, min_distance=half)
    logs = _log10(norms)
    drop = logs[min_distance] - logs[half] if T > half and np.isfinite(logs[half]) else np.inf
    finite = logs[min_distance:][np.isfinite(logs[min_distance:])]
    span = np.ptp(finite) if finite.size else np.inf
    if np.isfinite(fit["rate"]) and abs(fit["rate"]) <= flat_rate and span <= plateau_decades:
        shape = FLAT
    elif np.isfinite(second["rate"]) and abs(second["rate"]) <= flat_rate and drop >= plateau_decades:
        shape = DROP_THEN_PLATEAU
    elif np.isfinite(fit["r2"]) and fit["r2"] >= min_r2:
        shape = EXPONENTIAL
    else:
        shape = NOT_EXPONENTIAL
    return {"shape": shape, "rate": fit["rate"], "r2": fit["r2"], "rate_first_half": first["rate"],
            "rate_second_half": second["rate"]}
