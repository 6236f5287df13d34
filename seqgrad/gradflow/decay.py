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

from typing import Any

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
    the largest measured distance). Where ``‖J(1)‖ = 0`` (a lattice that skips d = 1)
    the reference is the window maximum (`reference_norm`); 0 means the whole
    profile is 0. A zero (underflow or exact) counts as below.
    """
    _check_threshold(threshold)
    norms = np.asarray(norms, np.float64)
    if norms.shape[0] < 2:
        return None
    ref, _ = reference_norm(norms)
    if not ref > 0:
        return 0
    above = np.nonzero(norms[1:] >= threshold * ref)[0] + 1
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


# ---------------------------------------------------------------------------------------------------------------
# T-independent classification: per-step rates and timescales, not ratios at the window's far end.

CUT_OFF, POWER_LAW_DECAY = "cut off", "power-law decay"
POWER_LAW, PERIODIC = "power law", "periodic"
CLASSIFIED_REGIMES = (VANISHING, PRESERVED, EXPLODING, POWER_LAW_DECAY, CUT_OFF)
POWER_LAW_MARGIN = 0.02  # a power law must fit ln‖J‖ better than a line in d by this much r²
CLASSIFIED_SHAPES = (EXPONENTIAL, POWER_LAW, FLAT, DROP_THEN_PLATEAU, PERIODIC, NOT_EXPONENTIAL)


def cut_off_distance(norms, exact=None, min_run: int = 1) -> int | None:
    """Smallest ``d₀ ≥ 1`` with ``‖J(d)‖ = 0`` for every ``d ≥ d₀`` (and, given ``exact`` ``[T]`` bools, every
    such zero exact rather than an underflow), the run of zeros at least ``min_run`` long (so that a lattice
    whose last distance falls between its points is not cut); None when there is no such run."""
    norms = np.asarray(norms, np.float64)
    zero = norms == 0 if exact is None else (norms == 0) & np.asarray(exact, bool)
    if norms.shape[0] < 2 or not zero[-1]:
        return None
    nonzero = np.nonzero(~zero[1:])[0]
    d0 = 1 if nonzero.size == 0 else int(nonzero[-1]) + 2
    return d0 if norms.shape[0] - d0 >= min_run else None


def reference_norm(norms, stop: int | None = None) -> tuple[float, str]:
    """``(‖J(1)‖, "J(1)")``, or where ``‖J(1)‖ = 0`` (a skip RNN whose lattice skips d = 1) the window maximum
    ``(max_{1 ≤ d < stop} ‖J(d)‖, "window max")``: the norm every ratio and horizon is taken against."""
    norms = np.asarray(norms, np.float64)
    if norms.shape[0] > 1 and norms[1] > 0:
        return float(norms[1]), "J(1)"
    window = norms[1:stop]
    return (float(np.max(window)) if window.size else 0.0), "window max"


def envelope_rate(norms, *, block: int, min_distance: int = 1, stop: int | None = None) -> dict[str, float]:
    """Per-step rate of the upper envelope: ``ln max_{d ∈ block} ‖J(d)‖`` fitted against the arg-max d.

    The maxima over consecutive blocks of ``block`` distances in ``[min_distance, stop)``
    follow ``C·e^(rate·d)`` whenever the profile does, and also when it is periodic with a
    period ≤ ``block`` (a skip RNN's lattice d = k, 2k, …: the maxima are the lattice
    points), so the rate reads how fast the *reachable* gradient falls or grows, not the
    troughs between lattice points. Blocks whose maximum is 0 are left out.
    """
    norms = np.asarray(norms, np.float64)
    stop = norms.shape[0] if stop is None else min(stop, norms.shape[0])
    starts = range(min_distance, stop, block)
    d = [s + int(np.argmax(norms[s:min(s + block, stop)])) for s in starts]
    peaks = np.zeros(norms.shape[0])
    peaks[d] = norms[d]
    valid = np.zeros(norms.shape[0], bool)
    valid[d] = True
    return fit_decay_rate(peaks, min_distance=min_distance, valid=valid)


def power_law_fit(norms, *, min_distance: int = 1, stop: int | None = None) -> dict[str, float]:
    """Least-squares ``ln ‖J(d)‖ = a − α·ln d`` over ``[min_distance, stop)``: ``{"exponent": α, "r2"}``."""
    norms = np.asarray(norms, np.float64)
    stop = norms.shape[0] if stop is None else stop
    d = np.arange(norms.shape[0])
    keep = (d >= max(min_distance, 1)) & (d < stop) & np.isfinite(norms) & (norms > 0)
    if keep.sum() < 3:
        return {"exponent": float("nan"), "r2": float("nan")}
    x, y = np.log(d[keep]), np.log(norms[keep])
    slope, intercept = np.polyfit(x, y, 1)
    spread = np.sum((y - y.mean()) ** 2)
    r2 = 1.0 - np.sum((y - intercept - slope * x) ** 2) / spread if spread > 0 else 1.0
    return {"exponent": float(-slope), "r2": float(r2)}


def _periodic(norms, stop: int, rebound_decades: float) -> bool:
    """A dip of ``rebound_decades`` below both an earlier and a later norm within ``[1, stop)``."""
    logs = _log10(norms)[1:stop]
    if logs.size < 3:
        return False
    before = np.maximum.accumulate(np.concatenate([[-np.inf], logs[:-1]]))
    after = np.maximum.accumulate(np.concatenate([logs[1:], [-np.inf]])[::-1])[::-1]
    return bool(np.any((logs <= before - rebound_decades) & (logs <= after - rebound_decades) & np.isfinite(after)))


def classify(norms, *, timescale: float, block: int, min_r2: float, plateau_decades: float, rebound_decades: float,
             min_distance: int = 1, exact=None) -> dict[str, Any]:
    """Regime and shape of a profile ``‖J(d)‖`` from per-step quantities, so that they do not depend on T.

    * ``cut off``: the profile is exactly 0 from some ``d₀`` on (`cut_off_distance`; ``exact``
      marks which zeros are exact, not float32 underflow); every fit then uses ``d < d₀``;
    * ``power-law decay``: the shape is a power law ``‖J(d)‖ ∝ d^(−α)``, α > 0 (a dilated stack's
      paths): no per-step rate exists, α is the T-independent number;
    * otherwise from the envelope rate r (`envelope_rate`, nats/step; for a drop then plateau
      the plateau's, over the second half) against the timescale
      τ = ``timescale`` steps: ``vanishing`` when ``r < −1/τ``, ``exploding`` when ``r > 1/τ``,
      else ``preserved`` (the norm changes by less than a factor e over τ steps). A profile
      ``C·e^(rd)`` gets the same regime in every window T, which the old ratio rule
      ``‖J(T−1)‖ ≥ 0.1·‖J(1)‖`` (a rate threshold of ln(10)/(T − 2)) did not;
    * shape: ``periodic`` (a dip of ``rebound_decades`` and a recovery), ``flat``,
      ``drop then plateau``, ``exponential`` (log-linear r² ≥ ``min_r2``), ``power law``
      (log-log r² ≥ ``min_r2`` and above the log-linear r²), else ``not exponential``.

    Ratios are taken against `reference_norm` (the window maximum where ‖J(1)‖ = 0).

    Returns ``{"regime", "shape", "rate" (envelope, nats/step), "timescale" (1/|rate| steps), "r2" (log-linear
    fit over d < d₀), "fit_rate", "cut_off_distance", "reference", "power_law_exponent", "power_law_r2",
    "rate_first_half", "rate_second_half"}``.
    """
    norms = np.asarray(norms, np.float64)
    T = norms.shape[0]
    d0 = cut_off_distance(norms, exact, min_run=block)
    stop = T if d0 is None else d0
    ref, ref_kind = reference_norm(norms, stop)
    out = {"cut_off_distance": d0, "reference": ref_kind}
    if ref == 0 or stop - min_distance < 2:
        rate = -np.inf if ref == 0 else float("nan")
        return {**out, "regime": CUT_OFF if d0 is not None else VANISHING, "shape": NOT_EXPONENTIAL, "rate": rate,
                "timescale": 0.0 if ref == 0 else float("nan"), "r2": float("nan"), "fit_rate": float("nan"),
                "power_law_exponent": float("nan"), "power_law_r2": float("nan"),
                "rate_first_half": float("nan"), "rate_second_half": float("nan")}
    window = norms[:stop]
    env = envelope_rate(window, block=block, min_distance=min_distance)
    fit = fit_decay_rate(window, min_distance=min_distance)
    power = power_law_fit(window, min_distance=min_distance)
    shape = profile_shape(window, min_r2=min_r2, flat_rate=1.0 / timescale, plateau_decades=plateau_decades,
                          min_distance=min_distance)
    flat_rate = 1.0 / timescale
    if _periodic(window, stop, rebound_decades):
        kind = PERIODIC
    elif shape["shape"] == FLAT:
        kind = FLAT
    elif (np.isfinite(power["r2"]) and power["r2"] >= min_r2 and power["exponent"] > 0
          and not (np.isfinite(fit["r2"]) and fit["r2"] >= power["r2"] - POWER_LAW_MARGIN)):
        kind = POWER_LAW
    else:
        kind = shape["shape"]
    rate = env["rate"]
    if kind == DROP_THEN_PLATEAU:  # the reachable gradient is the plateau's: its rate, not the drop's
        rate = envelope_rate(window, block=block, min_distance=max(min_distance + 1, stop // 2))["rate"]
    if d0 is not None:
        regime_ = CUT_OFF
    elif kind == POWER_LAW:
        regime_ = POWER_LAW_DECAY
    elif not np.isfinite(rate) or rate < -flat_rate:
        regime_ = VANISHING
    elif rate > flat_rate:
        regime_ = EXPLODING
    else:
        regime_ = PRESERVED
    return {**out, "regime": regime_, "shape": kind, "rate": float(rate),
            "timescale": float(1.0 / abs(rate)) if np.isfinite(rate) and rate != 0 else float("inf"),
            "r2": fit["r2"], "fit_rate": fit["rate"], "power_law_exponent": power["exponent"],
            "power_law_r2": power["r2"], "rate_first_half": shape["rate_first_half"],
            "rate_second_half": shape["rate_second_half"]}
