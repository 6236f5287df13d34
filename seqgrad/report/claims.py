"""The seed's claims, one row each: the measurement that tests it and a verdict computed from it.

Every verdict is ``confirmed``, ``refuted`` or ``qualified`` (true only with a
caveat the numbers show), or ``not measured`` when the config lacks the entries a
claim names. The entries each claim reads and the thresholds are config values
(``config.claims``); the numbers come from `seqgrad.gradflow.analysis` records:
the median over seeds of the fitted decay rate (nats per step), the memory
horizon (censored at T: "no horizon within T"), the Jacobian norm at the largest
distance, the receptive field, and the seed experiment's gradient norms.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

CONFIRMED, REFUTED, QUALIFIED, NOT_MEASURED = "confirmed", "refuted", "qualified", "not measured"


def _g(value: float) -> str:
    return "nan" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3g}"


def rate(e) -> float:
    return e["decay_rate"]["median"]


def horizon(e) -> float:
    return e["memory_horizon"]["median"]


def alive(e, T) -> bool:
    """No memory horizon within T: the norm never fell below threshold·‖J(1)‖."""
    return horizon(e) >= T


def horizon_text(e, T) -> str:
    return f"> {T - 1}" if alive(e, T) else _g(horizon(e))


def describe(name, e, T) -> str:
    return f"{name}: rate {_g(rate(e))}/step, horizon {horizon_text(e, T)}"


def _entries(results, names):
    names = [names] if isinstance(names, str) else list(names)
    missing = [n for n in names if n not in results]
    return names, missing


def _against_vanilla(results, c, entries):
    """``(names, missing, test)`` for a claim tested against the vanilla RNN (the last name)."""
    names, missing = _entries(results, list(entries) + [c.vanilla])
    test = "decay of ‖∂h_(T-1)/∂h_t‖: " + ", ".join(f"`{n}`" for n in names[:-1]) + f" vs `{c.vanilla}`"
    return names, missing, test


def _slower_than_vanilla(others, base, healthy: bool) -> str:
    """Confirmed when every entry decays slower than the vanilla RNN and is ``healthy``;
    qualified when it only decays slower; refuted otherwise."""
    slower = all(rate(e) > rate(base) for e in others)
    return CONFIRMED if slower and healthy else (QUALIFIED if slower else REFUTED)


def _row(claim: str, test: str, measurement: str, verdict: str) -> dict[str, str]:
    return {"claim": claim, "test": test, "measurement": measurement, "verdict": verdict}


def vanilla(results, c, T):
    claim = "Vanilla RNN: each backward step multiplies by W_hhᵀ·diag(φ'(z_t)), so gradients vanish exponentially"
    test = f"decay of ‖∂h_(T-1)/∂h_t‖ for `{c.vanilla}`"
    names, missing = _entries(results, c.vanilla)
    if missing:
        return _row(claim, test, f"missing entries {missing}", NOT_MEASURED)
    e = results[names[0]]
    verdict = CONFIRMED if rate(e) < -c.flat_rate and not alive(e, T) else (
        QUALIFIED if rate(e) < -c.flat_rate else REFUTED)
    return _row(claim, test, describe(names[0], e, T), verdict)


def orthogonal(results, c, T):
    claim = "Even with orthogonal weights, the activation derivative causes shrinkage"
    test = f"orthogonal tanh `{c.orthogonal_tanh}` vs orthogonal linear `{c.orthogonal_linear}`"
    names, missing = _entries(results, [c.orthogonal_tanh, c.orthogonal_linear])
    if missing:
        return _row(claim, test, f"missing entries {missing}", NOT_MEASURED)
    tanh, linear = results[names[0]], results[names[1]]
    sv = [abs(s - 1.0) for row in linear["singular_values"] for s in row]
    measurement = (f"{describe(names[0], tanh, T)}; {describe(names[1], linear, T)}, "
                   f"max |σ_i − 1| = {_g(max(sv))}")
    if rate(tanh) < -c.flat_rate and abs(rate(linear)) <= c.flat_rate:
        verdict = CONFIRMED
    elif rate(tanh) < -c.flat_rate:
        verdict = QUALIFIED
    else:
        verdict = REFUTED
    return _row(claim, test, measurement, verdict)


def forget_gate(results, c, T):
    claim = "∂c_t/∂c_(t-1) = f_t: when the forget gate is open (f ≈ 1) gradients flow through the cell undiminished"
    names, missing = _entries(results, c.forget_gate)
    test = "cell-state Jacobians ∂c_(T-1)/∂c_t as the forget bias grows: " + ", ".join(f"`{n}`" for n in names)
    if missing:
        return _row(claim, test, f"missing entries {missing}", NOT_MEASURED)
    parts = []
    for n in names:
        bias = results[n]["options"].get("forget_bias")
        predicted = "" if bias is None else f" (ln σ(b_f) = {_g(-math.log1p(math.exp(-bias)))})"
        parts.append(describe(n, results[n], T) + predicted)
    rates = [rate(results[n]) for n in names]
    opening = all(b > a for a, b in zip(rates, rates[1:]))
    if opening and alive(results[names[-1]], T):
        verdict = CONFIRMED
    elif opening:
        verdict = QUALIFIED
    else:
        verdict = REFUTED
    return _row(claim, test, "; ".join(parts), verdict)


def additive(results, c, T):
    claim = "Additive paths (LSTM/GRU cell, h_t = h_(t-1) + Δh_t) keep gradients from vanishing, unlike the vanilla RNN"
    names, missing, test = _against_vanilla(results, c, c.additive)
    if missing:
        return _row(claim, test, f"missing entries {missing}", NOT_MEASURED)
    base = results[names[-1]]
    others = [results[n] for n in names[:-1]]
    healthy = all(alive(e, T) and rate(e) <= c.flat_rate for e in others)
    measurement = "; ".join(describe(n, results[n], T) for n in names)
    return _row(claim, test, measurement, _slower_than_vanilla(others, base, healthy))


def skip(results, c, T):
    claim = "Skip connections h_t = f(h_(t-1), x_t) + h_(t-k) give gradient paths of length O(T/k)"
    names, missing, test = _against_vanilla(results, c, c.skip)
    if missing:
        return _row(claim, test, f"missing entries {missing}", NOT_MEASURED)
    base = results[names[-1]]
    others = [results[n] for n in names[:-1]]
    parts = []
    for n, e in zip(names, others):
        parts.append(f"{describe(n, e, T)} (k = {e['options'].get('skip')}, rate_rnn/k = "
                     f"{_g(rate(base) / e['options'].get('skip', 1))})")
    parts.append(describe(names[-1], base, T))
    healthy = all(alive(e, T) and abs(rate(e)) <= c.flat_rate for e in others)
    return _row(claim, test, "; ".join(parts), _slower_than_vanilla(others, base, healthy))


def multiscale(results, c, T):
    claim = "Hierarchical/multi-scale RNNs: gradients in slow modules travel shorter distances"
    names, missing, test = _against_vanilla(results, c, c.multiscale)
    if missing:
        return _row(claim, test, f"missing entries {missing}", NOT_MEASURED)
    base = results[names[-1]]
    others = [results[n] for n in names[:-1]]
    healthy = all(alive(e, T) for e in others)
    measurement = "; ".join(describe(n, results[n], T) for n in names)
    return _row(claim, test, measurement, _slower_than_vanilla(others, base, healthy))


def dilated(results, c, T):
    claim = "Dilated causal convolutions give O(log T) gradient paths"
    names, missing = _entries(results, c.dilated)
    test = "receptive field R and ‖∂h_(T-1)/∂z_t‖ within and beyond it: " + ", ".join(f"`{n}`" for n in names)
    if missing:
        return _row(claim, test, f"missing entries {missing}", NOT_MEASURED)
    parts, exact, covering_alive, bounded = [], True, True, False
    for n in names:
        e = results[n]
        R, zero = e.get("receptive_field"), e["first_exact_zero_distance"]
        parts.append(f"{n}: R = {R}, first exact zero at d = {zero}, rate {_g(rate(e))}/step, "
                     f"horizon {horizon_text(e, T)}")
        if R is not None and R < T:
            bounded = True
            exact &= all(status == "exact_zero" for status in e["status"][R:])
        else:
            covering_alive &= alive(e, T)
    if exact and covering_alive and not bounded:
        verdict = CONFIRMED
    elif exact and covering_alive:
        verdict = QUALIFIED  # true within R; exactly zero beyond, so depth must grow as log T
    else:
        verdict = REFUTED
    return _row(claim, test, "; ".join(parts), verdict)


def attention(results, c, T):
    claim = "Attention and Transformers connect every position directly: O(1) paths, no multiplicative chain through time"
    names, missing = _entries(results, c.attention)
    test = "decay of ‖∂h_(T-1)/∂h_t‖ (output probe): " + ", ".join(f"`{n}`" for n in names)
    if missing:
        return _row(claim, test, f"missing entries {missing}", NOT_MEASURED)
    es = [results[n] for n in names]
    parts = [f"{describe(n, e, T)}, ‖J(T-1)‖/‖J(1)‖ = {_g(e['jacobian_norm'][-1] / e['jacobian_norm'][1])}"
             for n, e in zip(names, es)]
    if all(alive(e, T) and abs(rate(e)) <= c.flat_rate for e in es):
        verdict = CONFIRMED
    elif all(alive(e, T) for e in es):
        verdict = QUALIFIED
    else:
        verdict = REFUTED
    return _row(claim, test, "; ".join(parts), verdict)


def _snippet(results, c):
    names, missing = _entries(results, c.snippet)
    if missing or any(results[n]["seed_experiment"] is None for n in names):
        return names, missing or names, None
    return names, [], [results[n]["seed_experiment"] for n in names]


def snippet_ratio(results, c, T):
    claim = "The snippet: LSTM weight gradients exceed the vanilla RNN's, increasingly so as T grows"
    names, missing, exps = _snippet(results, c)
    test = "‖∂L/∂W_hh‖, L = ‖h_(T-1) − y‖², and the ratio LSTM/RNN at each T (median over seeds)"
    if missing:
        return _row(claim, test, f"missing or non-recurrent entries {missing}", NOT_MEASURED)
    rnn, lstm = (exp["gradient_norm"]["median"] for exp in exps)
    ratios = [b / a if a > 0 else math.inf for a, b in zip(rnn, lstm)]
    lengths = exps[0]["lengths"]
    measurement = ", ".join(
        f"T={n}: {names[0]} {_g(a)}, {names[1]} {_g(b)} (ratio {_g(r)})" for n, a, b, r in zip(lengths, rnn, lstm, ratios)
    )
    if all(r > 1 for r in ratios) and ratios[-1] > ratios[0]:
        verdict = CONFIRMED
    elif ratios[-1] > 1:
        verdict = QUALIFIED
    else:
        verdict = REFUTED
    return _row(claim, test, measurement, verdict)


def snippet_locality(results, c, T):
    claim = "The snippet's ‖∂L/∂W_hh‖ vs T measures how gradients flow over long distances"
    names, missing, exps = _snippet(results, c)
    test = "share of ‖∂L/∂W‖'s contributions G(d) from the last steps (decomposition by distance d)"
    if missing:
        return _row(claim, test, f"missing or non-recurrent entries {missing}", NOT_MEASURED)
    shares = [exp["share_of_last_steps"]["median"] for exp in exps]
    changes = [exp["gradient_norm"]["median"][-1] / exp["gradient_norm"]["median"][0] for exp in exps]
    last = exps[0]["last_steps"]
    measurement = "; ".join(
        f"{n}: {100 * s:.1f}% of Σ‖G(d)‖ from d < {last}, norm(T={exp['lengths'][-1]})/norm(T={exp['lengths'][0]}) "
        f"= {_g(ch)}" for n, s, ch, exp in zip(names, shares, changes, exps))
    if all(s >= c.dominance for s in shares):
        verdict = REFUTED  # dominated by the last steps: the norm barely sees long distances
    elif any(s >= c.dominance for s in shares):
        verdict = QUALIFIED
    else:
        verdict = CONFIRMED
    return _row(claim, test, measurement, verdict)


CLAIMS: Sequence[Callable] = (
    vanilla, orthogonal, forget_gate, additive, skip, multiscale, dilated, attention, snippet_ratio, snippet_locality,
)


def evaluate(results: Mapping[str, dict], claims_config, T: int) -> list[dict[str, str]]:
    """One row per claim: ``{"claim", "test", "measurement", "verdict"}``."""
    return [claim(results, claims_config, T) for claim in CLAIMS]
