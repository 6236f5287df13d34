"""The seed's claims: for each, the measurement that tests it, the rule that turns it into a verdict.

Per condition a verdict is ``confirmed``, ``refuted``, ``qualified`` (true only
with a caveat the numbers show) or ``not measured`` (the config lacks an entry
the claim names); `seqgrad.report.verdicts` combines the conditions into the
overall verdict (``depends`` when they disagree). Every threshold is a config
value (``config.claims``; the regime thresholds ``config.regime`` are already
applied in the record). The numbers are medians over initialisations × inputs
from the typed record (`seqgrad.gradflow.record.Measures`): the regime of the
median profile (vanishing / preserved / exploding / non-monotone), the fitted
decay rate and its fit quality, the memory horizon (last d above the
threshold), the receptive field, per-module clockwork profiles and the seed's
experiment. "Not vanishing" is supported only by a *preserved* regime: growth
is growth.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from seqgrad.gradflow import decay
from seqgrad.report.verdicts import CONFIRMED, NOT_MEASURED, QUALIFIED, REFUTED, Claim, Subject, evaluate_claim, g

S = Mapping[str, Subject]


def rate(s: Subject) -> float:
    return s.m.decay_rate.median


def ratio_end(s: Subject) -> float:
    n = s.m.jacobian_norm
    return float(n[-1] / n[1]) if n[1] > 0 else float("nan")


def describe(name: str, s: Subject) -> str:
    h = s.m.memory_horizon.median
    horizon = f"> {s.m.T - 1}" if h >= s.m.T else g(h)
    return (f"{name}: {s.m.regime}, rate {g(rate(s))}/step ({s.m.shape['shape']}, r² {g(s.m.shape['r2'])}), "
            f"‖J(T-1)‖/‖J(1)‖ = {g(ratio_end(s))}, horizon {horizon}")


def _ticks(names) -> str:
    return ", ".join(f"`{n}`" for n in names)


def vanilla(s: S, config):
    (name, e), = s.items()
    if e.m.regime == decay.VANISHING:
        verdict = CONFIRMED if e.m.shape["shape"] == decay.EXPONENTIAL else QUALIFIED
    else:
        verdict = REFUTED
    return verdict, describe(name, e)


def orthogonal(s: S, config):
    c = config.claims
    (tn, tanh), (ln, linear) = s.items()
    dev = linear.m.singular_value_deviation
    text = f"{describe(tn, tanh)}; {describe(ln, linear)}, max |σ_i − 1| = {g(dev)}"
    if tanh.m.regime != decay.VANISHING:
        return REFUTED, text
    if math.isnan(dev):  # no singular values (a sketch without config.sketch.num_singular)
        return NOT_MEASURED, text + " (no singular values measured)"
    exact = linear.m.regime == decay.PRESERVED and dev <= c.orthogonal_sigma_tolerance
    return (CONFIRMED if exact else QUALIFIED), text


def forget_gate(s: S, config):
    parts = []
    for n, e in s.items():
        bias = e.options.get("forget_bias")
        predicted = "" if bias is None else f" (ln σ(b_f) = {g(-math.log1p(math.exp(-bias)))})"
        parts.append(describe(n, e) + predicted)
    rates = [rate(e) for e in s.values()]
    opening = all(b > a for a, b in zip(rates, rates[1:]))
    last = list(s.values())[-1]
    verdict = (CONFIRMED if last.m.regime == decay.PRESERVED else QUALIFIED) if opening else REFUTED
    return verdict, "; ".join(parts)


def _against_vanilla(s: S, config):
    names = list(s)
    return [(n, s[n]) for n in names[:-1]], s[names[-1]], "; ".join(describe(n, e) for n, e in s.items())


def additive(s: S, config):
    others, base, text = _against_vanilla(s, config)
    if any(rate(e) <= rate(base) for _, e in others):
        return REFUTED, text
    preserved = all(e.m.regime == decay.PRESERVED for _, e in others)
    return (CONFIRMED if preserved else QUALIFIED), text


def skip(s: S, config):
    """O(T/k): on the lattice d = k, 2k, … the norm decays no faster than the vanilla rate / k."""
    c, r = config.claims, config.regime
    others, base, _ = _against_vanilla(s, config)
    parts, within, bounded = [], True, True
    for n, e in others:
        k = int(e.options.get("skip", 1))
        lattice = decay.lattice_decay_rate(e.m.jacobian_norm, k)["rate"]
        predicted = rate(base) / k
        ok = lattice >= predicted - c.prediction_tolerance * abs(predicted)
        on_lattice = np.asarray(e.m.jacobian_norm)[::k]
        grows = decay.regime(on_lattice, growth=r.growth, preserved=r.preserved,
                             rebound_decades=r.rebound_decades) == decay.EXPLODING
        within &= bool(ok)
        bounded &= not grows
        parts.append(f"{n} (k = {k}): {e.m.regime}, lattice rate {g(lattice)}/step vs predicted rate_rnn/k = "
                     f"{g(predicted)}{', grows on the lattice' if grows else ''}")
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
    return _worst(verdicts), "; ".join(parts)


def _worst(verdicts) -> str:
    for v in (REFUTED, QUALIFIED, NOT_MEASURED):
        if v in verdicts:
            return v
    return CONFIRMED


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


def dilated(s: S, config):
    """No exponential decay in d within the receptive field R; beyond it the Jacobian is exactly 0.

    A kernel-2 dilated stack's profile is non-monotone by construction (the paths to d
    follow d's binary digits), so the rule reads the norm kept per dilation level:
    ``(‖J(d)‖/‖J(1)‖)^(1/ℓ(d)) ≥ config.regime.preserved`` for every ``1 ≤ d < min(R, T)``.
    Confirmed when that holds and R ≥ T; qualified when it holds and R < T with exact zeros
    beyond R (true within R only: depth must grow as log T to cover T); refuted when a level
    loses more, or a Jacobian beyond R is not exactly 0.
    """
    r = config.regime
    parts, verdicts = [], []
    for n, e in s.items():
        R, T, status = e.receptive_field, e.m.T, list(e.m.status)
        k = min(R or T, T)
        norms = np.asarray(e.m.jacobian_norm, np.float64)
        factor, at = level_factor(norms, k)
        inside = norms[1:k] / norms[1] if k > 1 and norms[1] > 0 else np.array([np.nan])
        zero = e.m.first_exact_zero_distance
        zero_text = "no exact zero within T" if zero is None else f"first exact zero at d = {zero}"
        where = "" if at is None else f" at d = {at} (ℓ = {int(levels(at))}, ‖J(d)‖/‖J(1)‖ = {g(norms[at] / norms[1])})"
        parts.append(f"{n}: R = {R}, T = {T}, within min(R, T): per-level factor {g(factor)}{where}, "
                     f"min ‖J(d)‖/‖J(1)‖ = {g(float(np.min(inside)))}, {zero_text}")
        if not factor >= r.preserved:
            verdicts.append(REFUTED)
        elif R is not None and R < T:
            exact = all(x == "exact_zero" for x in status[R:])
            verdicts.append(QUALIFIED if exact else REFUTED)  # true within R only: depth must grow as log T
        else:
            verdicts.append(CONFIRMED)
    return _worst(verdicts), "; ".join(parts)


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
    return _worst(verdicts), "; ".join(parts)


def rg_lru(s: S, config):
    """√(1 − a²) keeps Var(h) at the gated input's variance (normalised within the band, unnormalised outside),
    and the state Jacobian diag(∏ a) never expands."""
    c = config.claims
    (nn_, norm), (un, unnorm) = s.items()
    ratios = [e.m.variance_ratio for e in (norm, unnorm)]
    if any(v is None or not math.isfinite(v.median) for v in ratios):
        return NOT_MEASURED, f"no Var(h)/Var(i ⊙ x) for {[nn_, un]} (no state_variance_ratio hook, or num_inputs < 2)"
    lo, hi = c.variance_ratio_low, c.variance_ratio_high
    inside = [lo <= v.median <= hi for v in ratios]
    sigma = norm.m.spectral_norm_max
    text = "; ".join(f"{n}: Var(h)/Var(i ⊙ x) = {g(v.median)} [{g(v.q25)}, {g(v.q75)}], max_d σ_max(J(d)) = "
                     f"{g(e.m.spectral_norm_max)}" for n, e, v in ((nn_, norm, ratios[0]), (un, unnorm, ratios[1])))
    if not inside[0] or not sigma <= 1 + c.expansion_tolerance:
        return REFUTED, text
    return (QUALIFIED if inside[1] else CONFIRMED), text  # qualified: the scale is kept without the factor too


def attention(s: S, config):
    c = config.claims
    parts = [f"{describe(n, e)}, T·‖J(T/2)‖ = {g(e.m.T * e.m.jacobian_norm[e.m.T // 2])}" for n, e in s.items()]
    if not all(e.m.regime == decay.PRESERVED for e in s.values()):
        return REFUTED, "; ".join(parts)
    flat = all(abs(rate(e)) <= c.flat_rate for e in s.values())
    return (CONFIRMED if flat else QUALIFIED), "; ".join(parts)


def _experiments(s: S):
    exps = [e.m.seed_experiment for e in s.values()]
    return None if any(x is None for x in exps) else exps


def snippet_ratio(s: S, config):
    exps = _experiments(s)
    names = list(s)
    if exps is None:
        return NOT_MEASURED, f"no seed experiment for {names} (no recurrent weight)"
    rnn, lstm = (np.asarray(x["gradient_norm"]["median"]) for x in exps)
    ratios = [b / a if a > 0 else math.inf for a, b in zip(rnn, lstm)]
    text = ", ".join(f"T={n}: {names[0]} {g(a)}, {names[1]} {g(b)} (ratio {g(q)})"
                     for n, a, b, q in zip(exps[0]["lengths"], rnn, lstm, ratios))
    if all(q > 1 for q in ratios) and ratios[-1] > ratios[0]:
        return CONFIRMED, text
    return (QUALIFIED if ratios[-1] > 1 else REFUTED), text


def snippet_locality(s: S, config):
    c = config.claims
    exps = _experiments(s)
    if exps is None:
        return NOT_MEASURED, f"no seed experiment for {list(s)} (no recurrent weight)"
    shares = [x["share_of_last_steps"].median for x in exps]
    last = exps[0]["last_steps"]
    text = "; ".join(f"{n}: {100 * q:.1f}% of Σ‖G(d)‖ from d < {last}" for n, q in zip(s, shares))
    if all(q >= c.dominance for q in shares):
        return REFUTED, text  # dominated by the last steps: the norm barely sees long distances
    return (QUALIFIED if any(q >= c.dominance for q in shares) else CONFIRMED), text


def _with_vanilla(key):
    return lambda config: tuple(config.claims[key]) + (config.claims.vanilla,)


CLAIMS = (
    Claim("Vanilla RNN: each backward step multiplies by W_hhᵀ·diag(φ'(z_t)), so gradients vanish exponentially",
          lambda c: f"regime and exponential fit of ‖∂h_(T-1)/∂h_t‖ for `{c.claims.vanilla}`",
          "the vanilla RNN's ‖J(T−1)‖ ≥ {c.regime.preserved:g}·‖J(1)‖, or ‖J(d)‖ reaching {c.regime.growth:g}·‖J(1)‖", lambda c: (c.claims.vanilla,), vanilla),
    Claim("Even with orthogonal weights, the activation derivative causes shrinkage",
          lambda c: f"orthogonal tanh `{c.claims.orthogonal_tanh}` vs orthogonal linear `{c.claims.orthogonal_linear}`",
          "the orthogonal tanh RNN's ‖J(T−1)‖ ≥ {c.regime.preserved:g}·‖J(1)‖ (no shrinkage)",
          lambda c: (c.claims.orthogonal_tanh, c.claims.orthogonal_linear), orthogonal),
    Claim("∂c_t/∂c_(t-1) = f_t: when the forget gate is open (f ≈ 1) gradients flow through the cell undiminished",
          lambda c: "cell-state Jacobians ∂c_(T-1)/∂c_t as the forget bias grows: " + _ticks(c.claims.forget_gate),
          "a decay rate that does not increase with the forget bias", lambda c: tuple(c.claims.forget_gate), forget_gate),
    Claim("Additive paths (LSTM/GRU cell, h_t = h_(t-1) + Δh_t) keep gradients from vanishing, unlike the vanilla RNN",
          lambda c: f"regime and decay of ‖∂h_(T-1)/∂h_t‖: {_ticks(c.claims.additive)} vs `{c.claims.vanilla}`",
          "an additive model whose decay rate is ≤ the vanilla RNN's", _with_vanilla("additive"), additive),
    Claim("Skip connections h_t = f(h_(t-1), x_t) + h_(t-k) give gradient paths of length O(T/k)",
          lambda c: f"decay on the lattice d = k, 2k, … vs rate_rnn/k: {_ticks(c.claims.skip)} vs `{c.claims.vanilla}`",
          "a decay rate on d = k, 2k, … below rate_rnn/k by more than {c.claims.prediction_tolerance:g}·|rate_rnn/k|", _with_vanilla("skip"), skip),
    Claim("Hierarchical/multi-scale RNNs: gradients in slow modules travel shorter distances",
          lambda c: "per-module diagonal blocks ∂h_(T-1)[g]/∂h_t[g]: " + _ticks(c.claims.multiscale),
          "a slower module whose decay rate is ≤ a faster module's",
          lambda c: tuple(c.claims.multiscale), multiscale),
    Claim("Dilated causal convolutions give O(log T) gradient paths",
          lambda c: ("per-level factor min_d (‖J(d)‖/‖J(1)‖)^(1/ℓ(d)), ℓ(d) = ⌊log2 d⌋ + 1, within the receptive "
                     "field R, and ‖∂h_(T-1)/∂z_t‖ beyond it: " + _ticks(c.claims.dilated)),
          "‖J(d)‖ < {c.regime.preserved:g}^ℓ(d)·‖J(1)‖ for some 1 ≤ d < min(R, T), ℓ(d) = ⌊log2 d⌋ + 1 (a loss "
          "compounding per step, not per dilation level), or a non-zero Jacobian beyond R",
          lambda c: tuple(c.claims.dilated), dilated),
    Claim("Attention and Transformers connect every position directly: O(1) paths, no multiplicative chain through time",
          lambda c: "regime and decay of ‖∂h_(T-1)/∂h_t‖ (output probe): " + _ticks(c.claims.attention),
          "‖J(T−1)‖ < {c.regime.preserved:g}·‖J(1)‖, or ‖J(d)‖ reaching {c.regime.growth:g}·‖J(1)‖", lambda c: tuple(c.claims.attention), attention),
    Claim("coRNN: hidden-state gradients stay bounded (Rusch & Mishra 2021)",
          lambda c: ("‖∂y_(T-1)/∂y_(T-1-d)‖_∞ against the proven ρ^d, ρ = max(q, 1 + Δt·q) from each seed's weights, "
                     "and the regime: " + _ticks(c.claims.cornn)),
          "‖J(d)‖_∞ > ρ^d·exp({c.claims.bound_tolerance:g}) at some d ≥ 1, seed and input",
          lambda c: tuple(c.claims.cornn), cornn),
    Claim("RG-LRU: the √(1 − a_t²) normalisation keeps the state's variance at its input's, whatever the memory "
          "(De et al. 2024)",
          lambda c: (f"Var(h_t)/Var(i_t ⊙ x_t) over the second half of the white-noise inputs (variance over inputs) "
                     f"and max_d σ_max(∂h_(T-1)/∂h_(T-1-d)): `{c.claims.rg_lru[0]}` vs `{c.claims.rg_lru[1]}`"),
          "a normalised ratio outside [{c.claims.variance_ratio_low:g}, {c.claims.variance_ratio_high:g}], or "
          "σ_max(J(d)) > 1 + {c.claims.expansion_tolerance:g}",
          lambda c: tuple(c.claims.rg_lru), rg_lru),
    Claim("The snippet: LSTM weight gradients exceed the vanilla RNN's, increasingly so as T grows",
          lambda c: "‖∂L/∂W_hh‖, L = ‖h_(T-1) − y‖², and the ratio LSTM/RNN at each T (median over seeds)",
          "an LSTM/RNN gradient ratio ≤ 1 at the largest length", lambda c: tuple(c.claims.snippet), snippet_ratio),
    Claim("The snippet's ‖∂L/∂W_hh‖ vs T measures how gradients flow over long distances",
          lambda c: "share of ‖∂L/∂W‖'s contributions G(d) from the last steps (decomposition by distance d)",
          "every model with ≥ {c.claims.dominance:g} of Σ‖G(d)‖ from the last steps", lambda c: tuple(c.claims.snippet), snippet_locality),
)


def evaluate(report, config) -> list:
    """One `ClaimRow` per claim, every condition of ``report.grid`` evaluated."""
    return [evaluate_claim(c, report.architectures, config, report.grid, report.default_condition) for c in CLAIMS]
