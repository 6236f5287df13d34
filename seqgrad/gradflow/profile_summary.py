"""Every summary of distance profiles ‖J(d)‖ under one set of thresholds, in one place.

A profile is ``norms [T]`` with ``norms[d] = ‖∂h_{T−1}/∂h_{T−1−d}‖`` (`seqgrad.gradflow.windows`).
`Thresholds` holds every number the summaries compare against, in per-step (or per-timescale)
units so that a profile ``C·e^(rd)`` reads the same at every T; `per_sequence` summarises many
profiles at once (one per input sequence and initialisation) and `of_profile` one profile (the
median over them), both from the functions of `seqgrad.gradflow.decay`; `summarise` does both
for one condition's profiles, and for the diagonal blocks of a clockwork RNN's modules.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from seqgrad.gradflow import decay, seeds


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """The thresholds of the profile summaries (the main job's ``config.decay_min_distance``,
    ``horizon_threshold``, ``regime.*`` and ``shape.*``; `decay.classify` says what each does)."""

    min_distance: int = 1  # first distance of every fit (d = 0 is I for state probes)
    horizon: float = 1e-3  # memory horizon: last d with ‖J(d)‖ ≥ horizon·‖J(1)‖
    timescale: float = 200.0  # τ steps: preserved when the envelope rate r has |r| ≤ 1/τ
    block: int = 16  # envelope blocks, and the shortest run of exact zeros that cuts a profile off
    min_r2: float = 0.9  # a log-linear (or log-log) fit this good names the shape
    plateau_decades: float = 1.0  # drop then plateau: the first half falls at least this much
    rebound_decades: float = 1.0  # periodic: a dip this many decades below earlier and later norms
    growth: float = 10.0  # the ratio rule `decay.regime` (reported beside the regime): exploding at growth·‖J(1)‖
    preserved: float = 0.1  # the ratio rule: preserved when ‖J(T−1)‖ ≥ preserved·‖J(1)‖

def per_sequence(norms, th: Thresholds) -> dict[str, np.ndarray]:
    """``norms [N, T]`` -> ``{"rate", "r2", "memory_horizon", "first_drop_horizon", "envelope_rate"}``, each ``[N]``.

    The horizons are censored at T (a profile that never drops below ``th.horizon·‖J(1)‖`` gets T); the
    envelope rate stops at the profile's cut-off distance (`decay.cut_off_distance`).
    """
    norms = np.asarray(norms, np.float64)
    T = norms.shape[-1]
    fits = [decay.fit_decay_rate(n, min_distance=th.min_distance) for n in norms]
    horizon = [decay.memory_horizon(n, th.horizon) for n in norms]
    drop = [decay.first_drop_horizon(n, th.horizon) for n in norms]
    envelope = [decay.envelope_rate(n, block=int(th.block), min_distance=th.min_distance,
                                    stop=decay.cut_off_distance(n, min_run=int(th.block)))["rate"] for n in norms]
    return {"rate": np.array([f["rate"] for f in fits]), "r2": np.array([f["r2"] for f in fits]),
            "memory_horizon": np.array([T if h is None else h for h in horizon]),
            "first_drop_horizon": np.array([T if h is None else h for h in drop]),
            "envelope_rate": np.array(envelope, np.float64)}


def of_profile(norms, th: Thresholds, exact=None) -> dict:
    """One profile ``norms [T]``: `decay.classify` (regime, shape, rates, timescale, cut-off) with
    ``"regime_by_ratio"`` (`decay.regime`), the log-linear fit (``"decay_rate"``, ``"decay_fit_r2"``) and the
    memory horizon (censored at T). ``exact [T]`` marks the zeros that are exact, not underflow."""
    norms = np.asarray(norms, np.float64)
    out = decay.classify(norms, timescale=float(th.timescale), block=int(th.block), min_r2=th.min_r2,
                         plateau_decades=th.plateau_decades, rebound_decades=th.rebound_decades,
                         min_distance=th.min_distance, exact=exact)
    fit = decay.fit_decay_rate(norms, min_distance=th.min_distance)
    horizon = decay.memory_horizon(norms, th.horizon)
    return {**out, "regime_by_ratio": decay.regime(norms, growth=th.growth, preserved=th.preserved,
                                                   rebound_decades=th.rebound_decades),
            "decay_rate": fit["rate"], "decay_fit_r2": fit["r2"],
            "memory_horizon": len(norms) if horizon is None else horizon}


def summarise(norms, th: Thresholds, exact=None, modules=None):
    """One condition's profiles ``norms [N, T]`` (every initialisation × input) summarised at once.

    Returns ``(per_sequence, profile, whole, modules)``: `per_sequence` of every profile; the median
    profile with its quartiles over the N profiles (``{"median", "q25", "q75"}``, `seeds.median_spread`);
    `of_profile` of that median (``exact [T]``: its exact zeros); and for ``modules [T, G]`` (the median
    ‖J(d)‖ of each clockwork module's diagonal block, or None) one summary per module
    (``{"module", "jacobian_norm", "decay_rate", "decay_fit_r2", "memory_horizon", "regime",
    "regime_by_ratio"}``).
    """
    profile = seeds.median_spread(norms)
    blocks = [] if modules is None else [of_profile(modules[:, g], th) for g in range(modules.shape[1])]
    return (per_sequence(norms, th), profile, of_profile(profile["median"], th, exact=exact),
            None if modules is None else [
                {"module": g, "jacobian_norm": np.asarray(modules[:, g]), "regime": b["regime"],
                 **{k: b[k] for k in ("decay_rate", "decay_fit_r2", "memory_horizon", "regime_by_ratio")}}
                for g, b in enumerate(blocks)])
