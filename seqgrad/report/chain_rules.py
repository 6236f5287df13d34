"""The rules of the claims about the multiplicative chain and the carries that bypass it: the vanilla RNN
vanishes, orthogonal weights still shrink through tanh, an open forget gate keeps the cell's gradient,
additive paths keep gradients from vanishing.

Each rule is ``(subjects {name: Subject}, config) -> (verdict, measurement)`` (`seqgrad.report.verdicts.Claim`).
Where theory has a closed form for an entry's rate (``ln σ(b_f)`` of an LSTM cell, ``ln(1 − σ(b_z))`` of a
GRU, both exact at zero weights: `seqgrad.gradflow.predictions.predict`, recorded as the entry's
``prediction``), the measurement states it and what the indirect paths add to it.
"""

from __future__ import annotations

import math

from seqgrad.gradflow import decay
from seqgrad.report.readings import S, against_baseline, describe, flat_rate, rate, spread, ticks
from seqgrad.report.verdicts import (CONFIRMED, INCONCLUSIVE, NOT_MEASURED, QUALIFIED, REFUTED, Subject, g,
                                     within_spread)


def vanishing_verdict(e: Subject, config) -> tuple[str, float]:
    """(verdict of "vanishes", margin): confirmed when the rate is below −1/τ by more than its spread."""
    margin = -flat_rate(config) - rate(e)  # > 0: vanishing
    if e.m.regime == decay.CUT_OFF:
        return CONFIRMED, float("inf")
    if within_spread(margin, spread(e)):
        return INCONCLUSIVE, margin
    if e.m.regime == decay.VANISHING:
        return (CONFIRMED if e.m.shape["shape"] == decay.EXPONENTIAL else QUALIFIED), margin
    if e.m.regime == decay.POWER_LAW_DECAY:
        return QUALIFIED, margin  # vanishes, but as a power of d, not exponentially
    return REFUTED, margin


def vanilla(s: S, config):
    """Scope: a contracting activation (tanh, |φ'| ≤ 1); a ReLU RNN with identity weights (φ' ∈ {0, 1},
    W = I) is the page's condition failing, reported beside it, never folded into the verdict."""
    names = list(s)
    e = s[names[0]]
    verdict, margin = vanishing_verdict(e, config)
    text = f"{describe(names[0], e)}; margin to −1/τ = {g(-flat_rate(config))}: {g(margin)}/step"
    for n in names[1:]:
        text += f"; outside the scope (φ' = 1 where active, W = I): {describe(n, s[n])}"
    return verdict, text


def orthogonal(s: S, config):
    c = config.claims
    (tn, tanh), (ln, linear) = s.items()
    dev = linear.m.singular_value_deviation
    text = f"{describe(tn, tanh)}; {describe(ln, linear)}, max |σ_i − 1| = {g(dev)}"
    verdict, _ = vanishing_verdict(tanh, config)
    if verdict in (REFUTED, INCONCLUSIVE):
        return verdict, text
    if math.isnan(dev):  # no singular values (a sketch without config.sketch.num_singular)
        return NOT_MEASURED, text + " (no singular values measured)"
    exact = linear.m.regime == decay.PRESERVED and dev <= c.orthogonal_sigma_tolerance
    return (CONFIRMED if exact else QUALIFIED), text


def against_prediction(n: str, e: Subject) -> str:
    """`describe`, and where the record holds theory's rate (`seqgrad.gradflow.predictions.predict`) that rate,
    its source and the measured rate's excess over it (the indirect paths, for a gated carry)."""
    predicted = e.m.prediction
    if not predicted:
        return describe(n, e)
    return (f"{describe(n, e)}; {predicted['source']}: {g(predicted['rate'])}/step, indirect paths "
            f"(measured − predicted) {g(rate(e) - predicted['rate'])}/step")


def forget_gate(s: S, config):
    """Under the claim's condition: the most open gate (the last entry, σ(b_f) ≈ 1) keeps the cell's
    gradient (|rate| ≤ 1/τ, beyond its spread), and the rate rises with the forget bias."""
    entries = list(s.items())
    rates = [rate(e) for _, e in entries]
    opening = all(b > a for a, b in zip(rates, rates[1:]))
    _, last = entries[-1]
    margin = rate(last) + flat_rate(config)  # > 0: not vanishing
    text = "; ".join(against_prediction(n, e) for n, e in entries) + f"; open-gate margin to −1/τ: {g(margin)}/step"
    if within_spread(margin, spread(last)):
        return INCONCLUSIVE, text
    if margin < 0 or not opening:
        return REFUTED, text
    return CONFIRMED, text + ("" if last.m.regime == decay.PRESERVED else " (it grows: not diminished)")


def additive(s: S, config):
    """Each additive entry keeps its gradient (not vanishing: rate ≥ −1/τ) and decays slower than the vanilla
    RNN; confirmed when all do, refuted when none does, qualified (naming which) in between."""
    others, base = against_baseline(s)
    ok, margins = [], []
    for _, e in others:
        margin = rate(e) + flat_rate(config)
        margins.append(margin)
        ok.append(margin >= 0 and rate(e) > rate(base))
    text = "; ".join(against_prediction(n, e) for n, e in others) + "; " + describe(list(s)[-1], base)
    if any(within_spread(m, spread(e)) for m, (_, e) in zip(margins, others)):
        return INCONCLUSIVE, text
    failing = [n for (n, _), good in zip(others, ok) if not good]
    if not failing:
        return CONFIRMED, text
    if len(failing) == len(others):
        return REFUTED, text
    return QUALIFIED, text + f"; vanishing or not slower than the vanilla RNN: {ticks(failing)}"
