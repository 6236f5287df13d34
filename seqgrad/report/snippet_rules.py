"""The rules of the page's snippet claims: LSTM weight gradients exceed the vanilla RNN's, increasingly with T,
and what share of ‖∂L/∂W_hh‖ comes from the last steps.

They read the page's experiment of each entry (the record's ``seed_experiment`` field, whose name the output
keeps): ‖∂L/∂W_hh‖ at the snippet's lengths and its decomposition by distance.
"""

from __future__ import annotations

import math

import numpy as np

from seqgrad.report.readings import S
from seqgrad.report.verdicts import CONFIRMED, INCONCLUSIVE, NOT_MEASURED, QUALIFIED, REFUTED, g, within_spread


def _experiments(s: S):
    exps = [e.m.seed_experiment for e in s.values()]
    return None if any(x is None for x in exps) else exps


def snippet_ratio(s: S, config):
    """LSTM/RNN ratio of ‖∂L/∂W_hh‖ above 1 at every length and rising from the first length to the last."""
    exps = _experiments(s)
    names = list(s)
    if exps is None:
        return NOT_MEASURED, f"no snippet experiment for {names} (no recurrent weight)"
    rnn, lstm = (np.asarray(x["gradient_norm"]["median"]) for x in exps)
    ratios = [b / a if a > 0 else math.inf for a, b in zip(rnn, lstm)]
    text = ", ".join(f"T={n}: {names[0]} {g(a)}, {names[1]} {g(b)} (ratio {g(q)})"
                     for n, a, b, q in zip(exps[0]["lengths"], rnn, lstm, ratios))
    if all(q > 1 for q in ratios) and ratios[-1] > ratios[0]:
        return CONFIRMED, text
    return (QUALIFIED if ratios[-1] > 1 else REFUTED), text


def snippet_locality(s: S, config):
    """‖∂L/∂W‖ measures long-distance flow unless its contributions come from the last steps (share ≥
    ``config.claims.dominance``) in every model."""
    c = config.claims
    exps = _experiments(s)
    if exps is None:
        return NOT_MEASURED, f"no snippet experiment for {list(s)} (no recurrent weight)"
    shares = [x["share_of_last_steps"].median for x in exps]
    spreads = [x["share_of_last_steps"].q75 - x["share_of_last_steps"].q25 for x in exps]
    last = exps[0]["last_steps"]
    text = "; ".join(f"{n}: {100 * q:.1f}% [IQR {100 * w:.1f}] of Σ‖G(d)‖ from d < {last}"
                     for n, q, w in zip(s, shares, spreads)) + f" (threshold {100 * c.dominance:g}%)"
    if any(within_spread(q - c.dominance, w) for q, w in zip(shares, spreads)):
        return INCONCLUSIVE, text
    if all(q >= c.dominance for q in shares):
        return REFUTED, text  # dominated by the last steps: the norm barely sees long distances
    return (QUALIFIED if any(q >= c.dominance for q in shares) else CONFIRMED), text
