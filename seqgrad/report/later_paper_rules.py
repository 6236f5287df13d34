"""The rules of the claims that are not on the page but of later papers: coRNN's proven bound (Rusch & Mishra
2021) and the RG-LRU's diagonal Jacobian and variance normalisation (De et al. 2024).

Each is tested where its closed form holds (the RG-LRU at a constant gate, `rg_lru_constant_gate`; the
coRNN bound from each initialisation's weights) or reported as a check (the RG-LRU at its default,
input-dependent gate, `rg_lru_check`).
"""

from __future__ import annotations

import math

import numpy as np

from seqgrad.gradflow import decay
from seqgrad.report.readings import S, describe
from seqgrad.report.verdicts import CONFIRMED, NOT_MEASURED, QUALIFIED, REFUTED, Subject, by_margin, g, worst


def cornn(s: S, config):
    """The measured ‖J(d)‖_∞ never exceeds the proven ρ^d (Rusch & Mishra 2021); confirmed unless it vanishes."""
    c = config.claims
    parts, verdicts = [], []
    for n, e in s.items():
        if e.m.bound_excess is None or e.m.bound_rho is None:
            return NOT_MEASURED, f"{n}: no proven ∞-norm bound in the record (no state_jacobian_bound hook)"
        ratio = math.exp(e.m.bound_excess) if e.m.bound_excess < 700 else math.inf
        parts.append(f"{n}: ρ = {g(e.m.bound_rho.median)} [{g(e.m.bound_rho.q25)}, {g(e.m.bound_rho.q75)}], "
                     f"ρ^(T−1) = {g(e.m.bound_rho.median ** (e.m.T - 1))}, largest ‖J(d)‖_∞/ρ^d (d ≥ 1, every seed "
                     f"and input) = {g(ratio)}, regime {e.m.regime}")
        if e.m.bound_excess > c.bound_tolerance:
            verdicts.append(REFUTED)
        else:
            verdicts.append(QUALIFIED if e.m.regime == decay.VANISHING else CONFIRMED)
    return worst(verdicts), "; ".join(parts)


VARIANCE = "Var(h_t)/[(1 − ∏_{s≤t} a_s²)·Var(i_t ⊙ u_t)]"  # the record's variance_ratio (`rg_lru.state_variance_ratio`)


def _no_variance(names) -> str:
    return f"no {VARIANCE} for {list(names)} (no state_variance_ratio hook, or num_inputs < 2)"


def variance_part(e: Subject, config) -> tuple[str, str]:
    """(verdict, text) of the variance ratio against its closed form 1, the band ``[variance_ratio_low,
    variance_ratio_high]`` around it: margin ``min(ρ − low, high − ρ)`` of the median over initialisations
    ρ, spread its interquartile range."""
    c, v = config.claims, e.m.variance_ratio
    margin = min(v.median - c.variance_ratio_low, c.variance_ratio_high - v.median)
    spread = v.q75 - v.q25
    text = (f"{VARIANCE} = {g(v.median)} [{g(v.q25)}, {g(v.q75)}] against the closed form 1: margin to "
            f"[{g(c.variance_ratio_low)}, {g(c.variance_ratio_high)}] {g(margin)}, IQR {g(spread)}")
    return by_margin(margin, spread), text


def rate_deviations(e: Subject, config) -> list[float]:
    """``fitted rate − ln ‖J(1)‖`` of the median profile and of its 25th and 75th percentile profiles (nan
    where ‖J(1)‖ = 0): 0 when ``J(d) = diag(a^d)``, whose norm is ``(max_c a_c)^d`` with ``‖J(1)‖ = max_c a_c``."""
    out = []
    for norms in (e.m.jacobian_norm, e.m.jacobian_norm_q25, e.m.jacobian_norm_q75):
        norms = np.asarray(norms, np.float64)
        fit = decay.fit_decay_rate(norms, min_distance=config.decay_min_distance)["rate"]
        out.append(fit - math.log(norms[1]) if norms[1] > 0 else float("nan"))
    return out


def rate_part(e: Subject, config) -> tuple[str, str]:
    """(verdict, text) of the fitted rate of ‖J(d)‖₂ against ``ln max_c a_c = ln ‖J(1)‖``, within
    ``prediction_tolerance·|ln max_c a_c|``: margin ``tolerance − |deviation|`` of the median profile, spread
    the range of the deviations of the median and quartile profiles."""
    one = float(e.m.jacobian_norm[1])
    predicted = math.log(one) if one > 0 else float("nan")
    deviations = rate_deviations(e, config)
    tolerance = config.claims.prediction_tolerance * abs(predicted)
    margin = tolerance - abs(deviations[0])
    spread = float(np.max(deviations) - np.min(deviations)) if np.all(np.isfinite(deviations)) else float("nan")
    lyap = e.m.lyapunov_top
    text = (f"fitted rate of ‖J(d)‖₂ minus ln max_c a_c (= ln ‖J(1)‖ = {g(predicted)}/step): {g(deviations[0])}/step "
            f"[range over the quartile profiles {g(spread)}], tolerance {g(tolerance)}"
            + ("" if lyap is None else f"; top Lyapunov exponent {g(lyap.median)}"))
    return by_margin(margin, spread), text


def rg_lru_constant_gate(s: S, config):
    """At a constant gate (``r_t = 1``: ``a = σ(Λ)^c`` per unit) and white inputs the closed forms are exact:
    ``∂h_T/∂h_t = diag(a^(T−t))`` and ``Var(h_t) = (1 − a^(2(t+1)))·Var(i ⊙ u)`` from the zero state.

    Per entry, three parts: the variance ratio against its closed form (`variance_part`), the profile's rate
    against ``ln max_c a_c`` (`rate_part`), and ``0 < a < 1`` (``‖J(1)‖ < 1``, ``max_d σ_max(J(d)) ≤ 1 +
    expansion_tolerance``). Refuted when a part is refuted beyond its spread or ``a < 1`` fails, inconclusive
    when a margin lies inside its spread, else confirmed; not measured for an entry whose gate reads the input.
    """
    c = config.claims
    parts, verdicts = [], []
    for n, e in s.items():
        if e.options.get("constant_gate") is not True:
            return NOT_MEASURED, f"{n}: its gate reads the input (constant_gate is not True): no closed form to test"
        v = e.m.variance_ratio
        if v is None or not math.isfinite(v.median):
            return NOT_MEASURED, _no_variance([n])
        (variance, variance_text), (rate, rate_text) = variance_part(e, config), rate_part(e, config)
        sigma, one = e.m.spectral_norm_max, float(e.m.jacobian_norm[1])
        contracting = 0 < one < 1 and sigma <= 1 + c.expansion_tolerance
        verdicts += [variance, rate, CONFIRMED if contracting else REFUTED]
        parts.append(f"{describe(n, e)}; {variance_text}; {rate_text}; ‖J(1)‖ = max_c a_c = {g(one)}, "
                     f"max_d σ_max(J(d)) = {g(sigma)}")
    return worst(verdicts), "; ".join(parts)


def rg_lru_check(s: S, config):
    """A check at the default, input-dependent gate (where the closed forms are approximations): the
    normalised entry's variance ratio inside ``[variance_ratio_low, variance_ratio_high]`` (the unnormalised
    one outside it), and the state Jacobian diag(∏ a) never expands."""
    c = config.claims
    (nn_, norm), (un, unnorm) = s.items()
    ratios = [e.m.variance_ratio for e in (norm, unnorm)]
    if any(v is None or not math.isfinite(v.median) for v in ratios):
        return NOT_MEASURED, _no_variance([nn_, un])
    lo, hi = c.variance_ratio_low, c.variance_ratio_high
    inside = [lo <= v.median <= hi for v in ratios]
    sigma = norm.m.spectral_norm_max
    text = "; ".join(f"{n}: {VARIANCE} = {g(v.median)} [{g(v.q25)}, {g(v.q75)}], max_d σ_max(J(d)) = "
                     f"{g(e.m.spectral_norm_max)}" for n, e, v in ((nn_, norm, ratios[0]), (un, unnorm, ratios[1])))
    if not inside[0] or not sigma <= 1 + c.expansion_tolerance:
        return REFUTED, text
    return (QUALIFIED if inside[1] else CONFIRMED), text  # qualified: the scale is kept without the factor too
