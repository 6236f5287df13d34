"""The rules of the claims about shorter gradient paths: skip connections (O(T/k)), multi-scale modules,
dilated convolutions (O(log T)) and attention (O(1)).

Each rule is ``(subjects {name: Subject}, config) -> (verdict, measurement)`` (`seqgrad.report.verdicts.Claim`);
where a claim compares with the vanilla RNN, that entry comes last (`readings.against_baseline`).
"""

from __future__ import annotations

import math

import numpy as np

from seqgrad.gradflow import decay
from seqgrad.report.readings import S, against_baseline, describe, flat_rate, rate
from seqgrad.report.verdicts import CONFIRMED, INCONCLUSIVE, NOT_MEASURED, QUALIFIED, REFUTED, g, worst


def skip(s: S, config):
    """O(T/k): on the lattice d = k, 2k, … the norm decays no faster than the vanilla rate / k; the off-lattice
    rate (d = mk + 1) is reported beside it."""
    c = config.claims
    others, base = against_baseline(s)
    parts, within, bounded = [], True, True
    for n, e in others:
        k = int(e.options.get("skip", 1))
        norms = np.asarray(e.m.jacobian_norm, np.float64)
        lattice = decay.lattice_decay_rate(norms, k)["rate"]
        d = np.arange(norms.shape[0])
        off = decay.fit_decay_rate(norms, min_distance=1, valid=(d % k == 1 % k))["rate"] if k > 1 else lattice
        predicted = rate(base) / k
        ok = lattice >= predicted - c.prediction_tolerance * abs(predicted)
        grows = lattice > flat_rate(config)
        within &= bool(ok)
        bounded &= not grows
        parts.append(f"{n} (k = {k}): lattice rate {g(lattice)}/step, off-lattice (d = mk + 1) {g(off)}/step, "
                     f"predicted ≥ rate_rnn/k = {g(predicted)}{', grows on the lattice' if grows else ''}")
    parts.append(describe(list(s)[-1], base))
    verdict = (CONFIRMED if bounded else QUALIFIED) if within else REFUTED
    return verdict, "; ".join(parts)


def multiscale(s: S, config):
    """Module g (period P_g = base^g) decays per step no faster than module 0's rate / P_g."""
    c = config.claims
    parts, verdicts = [], []
    for n, e in s.items():
        if not e.m.modules:
            return NOT_MEASURED, f"{n}: no per-module Jacobians (not a clockwork RNN)"
        base = int(e.options.get("period_base", 2))
        rates = [mod["decay_rate"] for mod in e.m.modules]
        period = base ** (len(rates) - 1)
        predicted = rates[0] / period
        monotone = all(b > a for a, b in zip(rates, rates[1:]))
        within = rates[-1] >= predicted - c.prediction_tolerance * abs(predicted)
        verdicts.append((CONFIRMED if within else QUALIFIED) if monotone else REFUTED)
        parts.append(f"{n}: module rates " + ", ".join(f"P={base ** i}: {g(x)}" for i, x in enumerate(rates))
                     + f"/step; slowest predicted ≥ {g(predicted)}")
    return worst(verdicts), "; ".join(parts)


def levels(d) -> np.ndarray:
    """``ℓ(d) = ⌊log2 d⌋ + 1`` for ``d ≥ 1``: the binary digits of d, the dilation levels 1, 2, …, 2^(ℓ−1) reaching d."""
    return np.floor(np.log2(np.asarray(d, np.float64))) + 1


def level_factor(norms, k: int) -> tuple[float, int | None]:
    """``(min_{1 ≤ d < k} (‖J(d)‖/‖J(1)‖)^(1/ℓ(d)), argmin d)``: the worst norm kept per dilation level.

    A stack of dilations 2^l reaches distance d through ℓ(d) levels, so O(log T) paths
    predict a loss per *level*, a power of d (a factor f per level is ``‖J(d)‖/‖J(1)‖ ≥
    f^ℓ(d) ≈ d^(log2 f)``), where a chain of d steps loses a factor per *step*. ``(nan, None)``
    when ``k < 2`` or ``‖J(1)‖ = 0``; an exact zero inside gives 0.
    """
    n = np.asarray(norms, np.float64)[:k]
    if n.size < 2 or not n[1] > 0:
        return float("nan"), None
    d = np.arange(1, n.size)
    per_level = (n[1:] / n[1]) ** (1.0 / levels(d))
    i = int(np.argmin(per_level))
    return float(per_level[i]), int(d[i])


def depth_for_T(s: S) -> tuple[list[str], list[str]]:
    """``(read, not read)``: the entries with the smallest receptive field R that still reaches the
    condition's T (depth ⌈log₂ T⌉ for kernel 2: ``R = 1 + 2(2^L − 1) ≥ T``), and the others (deeper than T
    needs, or short of T); every entry is read when none reaches T (they are then qualified or refuted) or
    an R is unknown."""
    if any(e.receptive_field is None for e in s.values()):
        return list(s), []
    reach = [e.receptive_field for e in s.values() if e.receptive_field >= e.m.T]
    if not reach:
        return list(s), []
    read = [n for n, e in s.items() if e.receptive_field == min(reach)]
    return read, [n for n in s if n not in read]


def dilated(s: S, config):
    """Within the receptive field R, ln‖J(d)‖ falls like a power of d (a factor per dilation level), not
    exponentially; the stack must reach T (depth ⌈log₂ T⌉: R ≥ T) for the claim's condition to hold.

    A kernel-2 dilated stack's profile is non-monotone by construction (the paths to d follow d's binary
    digits), so the rule reads the norm kept per dilation level, ``(‖J(d)‖/‖J(1)‖)^(1/ℓ(d)) ≥
    config.regime.preserved`` for every ``1 ≤ d < min(R, T)``, and reports the power-law fit beside the
    exponential one. Confirmed when that holds and R ≥ T; qualified when it holds and R < T with exact zeros
    beyond R (a fixed depth covers T only up to R); refuted when a level loses more. Per condition, a stack
    deeper than T needs is not read when a shallower one also reaches T (`depth_for_T`): the claim is about
    depth ⌈log₂ T⌉ at each T.
    """
    r = config.regime
    parts, verdicts = [], []
    read, other = depth_for_T(s)
    if other:
        parts.append(f"at T = {s[read[0]].m.T} the shallowest stack with R ≥ T is read: {', '.join(read)}; not read: "
                     + ", ".join(f"{n} (R = {s[n].receptive_field})" for n in other))
    for n, e in ((n, s[n]) for n in read):
        R, T, status = e.receptive_field, e.m.T, list(e.m.status)
        k = min(R or T, T)
        norms = np.asarray(e.m.jacobian_norm, np.float64)
        factor, at = level_factor(norms, k)
        power = decay.power_law_fit(norms, stop=k)
        line = decay.fit_decay_rate(norms[:k])
        where = "" if at is None else f" at d = {at} (ℓ = {int(levels(at))}, ‖J(d)‖/‖J(1)‖ = {g(norms[at] / norms[1])})"
        cut = e.m.shape.get("cut_off_distance")
        parts.append(f"{n}: R = {R}, T = {T}, within min(R, T): per-level factor {g(factor)}{where}; power law "
                     f"α = {g(power['exponent'])} (r² {g(power['r2'])}) vs exponential r² {g(line['r2'])}; "
                     + ("no exact zero within T" if cut is None else f"exactly 0 from d = {cut}"))
        if not factor >= r.preserved:
            verdicts.append(REFUTED)
        elif R is not None and R < T:
            exact = all(x == "exact_zero" for x in status[R:])
            verdicts.append(QUALIFIED if exact else REFUTED)
        else:
            verdicts.append(CONFIRMED)
    return worst(verdicts), "; ".join(parts)


def plateau_rate(norms, start: int, block: int) -> float:
    """Envelope rate of ``‖J(d)‖`` over ``d ≥ start``: the path length test (≈ 0: no decay with d)."""
    norms = np.asarray(norms, np.float64)
    if norms.shape[0] - start < 2 * block:
        return float("nan")
    return decay.envelope_rate(norms, block=block, min_distance=start)["rate"]


def attention(s: S, config):
    """O(1) paths: beyond the recurrent path's horizon (the last entry, the vanilla RNN under
    `attention_rnn`) and past half the window, ‖J(d)‖ does not decay with d (|plateau rate| ≤ 1/τ). The
    plateau's size, the 1/context averaging of the softmax, is reported beside it as magnitude, not tested."""
    others, base = against_baseline(s)
    recurrent = base.m.memory_horizon.median
    parts, verdicts = [], []
    for n, e in others:
        T = e.m.T
        start = int(max(T // 2, min(recurrent + 1, T)))
        plateau = plateau_rate(e.m.jacobian_norm, start, int(config.regime.block))
        context = T + int(getattr(config, "burn_in", 0) or 0)
        size = float(np.median(np.asarray(e.m.jacobian_norm)[start:])) if start < T else float("nan")
        parts.append(f"{n}: plateau rate over d ≥ {start} {g(plateau)}/step (|rate| ≤ {g(flat_rate(config))}: no "
                     f"decay); magnitude: context × plateau = {context} × {g(size)} = {g(context * size)}; "
                     f"‖J(1)‖ = {g(float(e.m.jacobian_norm[1]))}")
        if not math.isfinite(plateau):
            verdicts.append(INCONCLUSIVE)  # the recurrent path's horizon covers the window
        elif plateau >= -flat_rate(config):
            verdicts.append(CONFIRMED)
        elif plateau > rate(base):
            verdicts.append(QUALIFIED)  # a slow decay, slower than the multiplicative chain's
        else:
            verdicts.append(REFUTED)  # decays like a chain of recurrent steps
    parts.append(f"recurrent path ({list(s)[-1]}) horizon {g(recurrent)}")
    return worst(verdicts), "; ".join(parts)
