"""The seed's claims: for each, the measurement that tests it, the rule that turns it into a verdict.

Per condition a verdict is ``confirmed``, ``refuted``, ``qualified`` (true only
with a caveat the numbers show) or ``not measured`` (the config lacks an entry
the claim names); `seqgrad.report.verdicts` combines the conditions into the
overall verdict (``depends`` when they disagree). Every threshold is a config
value (``config.claims``; the regime thresholds ``config.regime`` are already
applied in the record). The numbers are medians over initialisations × inputs
from the typed record (`seqgrad.report.record.Measures`): the regime of the
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
from seqgrad.report.verdicts import (CONFIRMED, INCONCLUSIVE, NOT_MEASURED, QUALIFIED, REFUTED, Claim, Subject,
                                     evaluate_claim, g, within_spread)

S = Mapping[str, Subject]


def rate(s: Subject) -> float:
    """The regime's per-step rate: the envelope rate of the median profile (`decay.classify`)."""
    return float(s.m.shape.get("rate", s.m.decay_rate.median))


def spread(s: Subject) -> float:
    """Interquartile range of the per-sequence envelope rates (seeds × inputs): the noise a margin must beat."""
    r = s.m.regime_rate
    return float(r.q75 - r.q25) if r is not None else float("nan")


def flat_rate(config) -> float:
    """``1/config.regime.timescale``: the largest |rate| (nats/step) that counts as preserved."""
    return 1.0 / float(config.regime.timescale)


def ratio_end(s: Subject) -> float:
    n = s.m.jacobian_norm
    return float(n[-1] / n[1]) if n[1] > 0 else float("nan")


def describe(name: str, s: Subject) -> str:
    h = s.m.memory_horizon.median
    horizon = f"> {s.m.T - 1}" if h >= s.m.T else g(h)
    cut = s.m.shape.get("cut_off_distance")
    return (f"{name}: {s.m.regime}, rate {g(rate(s))}/step [IQR {g(spread(s))}] ({s.m.shape['shape']}, "
            f"r² {g(s.m.shape['r2'])}{'' if cut is None else f', exactly 0 from d = {cut}'}), horizon {horizon}")


def _ticks(names) -> str:
    return ", ".join(f"`{n}`" for n in names)


def _vanishing_verdict(e: Subject, config) -> tuple[str, float]:
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
    verdict, margin = _vanishing_verdict(e, config)
    text = f"{describe(names[0], e)}; margin to −1/τ = {g(-flat_rate(config))}: {g(margin)}/step"
    for n in names[1:]:
        text += f"; outside the scope (φ' = 1 where active, W = I): {describe(n, s[n])}"
    return verdict, text


def orthogonal(s: S, config):
    c = config.claims
    (tn, tanh), (ln, linear) = s.items()
    dev = linear.m.singular_value_deviation
    text = f"{describe(tn, tanh)}; {describe(ln, linear)}, max |σ_i − 1| = {g(dev)}"
    verdict, _ = _vanishing_verdict(tanh, config)
    if verdict in (REFUTED, INCONCLUSIVE):
        return verdict, text
    if math.isnan(dev):  # no singular values (a sketch without config.sketch.num_singular)
        return NOT_MEASURED, text + " (no singular values measured)"
    exact = linear.m.regime == decay.PRESERVED and dev <= c.orthogonal_sigma_tolerance
    return (CONFIRMED if exact else QUALIFIED), text


def carry_rate(e: Subject) -> float | None:
    """Closed-form per-step rate of the carry at zero weights: ln σ(b_f) (LSTM cell), ln(1 − σ(b_z)) (GRU)."""
    if "forget_bias" in e.options:
        return -math.log1p(math.exp(-float(e.options["forget_bias"])))
    if "update_bias" in e.options:
        return -math.log1p(math.exp(float(e.options["update_bias"])))
    return None


def _against_prediction(n: str, e: Subject) -> str:
    predicted = carry_rate(e)
    if predicted is None:
        return describe(n, e)
    return (f"{describe(n, e)}; closed form at zero weights {g(predicted)}/step, indirect paths "
            f"(measured − closed form) {g(rate(e) - predicted)}/step")


def forget_gate(s: S, config):
    """Under the claim's condition: the most open gate (the last entry, σ(b_f) ≈ 1) keeps the cell's
    gradient (|rate| ≤ 1/τ, beyond its spread), and the rate rises with the forget bias."""
    entries = list(s.items())
    rates = [rate(e) for _, e in entries]
    opening = all(b > a for a, b in zip(rates, rates[1:]))
    _, last = entries[-1]
    margin = rate(last) + flat_rate(config)  # > 0: not vanishing
    text = "; ".join(_against_prediction(n, e) for n, e in entries) + f"; open-gate margin to −1/τ: {g(margin)}/step"
    if within_spread(margin, spread(last)):
        return INCONCLUSIVE, text
    if margin < 0 or not opening:
        return REFUTED, text
    return CONFIRMED, text + ("" if last.m.regime == decay.PRESERVED else " (it grows: not diminished)")


def _against_vanilla(s: S, config):
    names = list(s)
    return [(n, s[n]) for n in names[:-1]], s[names[-1]], "; ".join(describe(n, e) for n, e in s.items())


def additive(s: S, config):
    """Each additive entry keeps its gradient (not vanishing: rate ≥ −1/τ) and decays slower than the vanilla
    RNN; confirmed when all do, refuted when none does, qualified (naming which) in between."""
    others, base, _ = _against_vanilla(s, config)
    ok, margins = [], []
    for _, e in others:
        margin = rate(e) + flat_rate(config)
        margins.append(margin)
        ok.append(margin >= 0 and rate(e) > rate(base))
    text = "; ".join(_against_prediction(n, e) for n, e in others) + "; " + describe(list(s)[-1], base)
    if any(within_spread(m, spread(e)) for m, (_, e) in zip(margins, others)):
        return INCONCLUSIVE, text
    failing = [n for (n, _), good in zip(others, ok) if not good]
    if not failing:
        return CONFIRMED, text
    if len(failing) == len(others):
        return REFUTED, text
    return QUALIFIED, text + f"; vanishing or not slower than the vanilla RNN: {_ticks(failing)}"


def skip(s: S, config):
    """O(T/k): on the lattice d = k, 2k, … the norm decays no faster than the vanilla rate / k; the off-lattice
    rate (d = mk + 1) is reported beside it."""
    c = config.claims
    others, base, _ = _against_vanilla(s, config)
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
    return _worst(verdicts), "; ".join(parts)


def _worst(verdicts) -> str:
    for v in (REFUTED, INCONCLUSIVE, QUALIFIED, NOT_MEASURED):
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
    """Within the receptive field R, ln‖J(d)‖ falls like a power of d (a factor per dilation level), not
    exponentially; the stack must reach T (depth ⌈log₂ T⌉: R ≥ T) for the claim's condition to hold.

    A kernel-2 dilated stack's profile is non-monotone by construction (the paths to d follow d's binary
    digits), so the rule reads the norm kept per dilation level, ``(‖J(d)‖/‖J(1)‖)^(1/ℓ(d)) ≥
    config.regime.preserved`` for every ``1 ≤ d < min(R, T)``, and reports the power-law fit beside the
    exponential one. Confirmed when that holds and R ≥ T; qualified when it holds and R < T with exact zeros
    beyond R (a fixed depth covers T only up to R); refuted when a level loses more.
    """
    r = config.regime
    parts, verdicts = [], []
    for n, e in s.items():
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
    names = list(s)
    base = s[names[-1]]
    recurrent = base.m.memory_horizon.median
    parts, verdicts = [], []
    for n in names[:-1]:
        e = s[n]
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
    parts.append(f"recurrent path ({names[-1]}) horizon {g(recurrent)}")
    return _worst(verdicts), "; ".join(parts)


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
    spreads = [x["share_of_last_steps"].q75 - x["share_of_last_steps"].q25 for x in exps]
    last = exps[0]["last_steps"]
    text = "; ".join(f"{n}: {100 * q:.1f}% [IQR {100 * w:.1f}] of Σ‖G(d)‖ from d < {last}"
                     for n, q, w in zip(s, shares, spreads)) + f" (threshold {100 * c.dominance:g}%)"
    if any(within_spread(q - c.dominance, w) for q, w in zip(shares, spreads)):
        return INCONCLUSIVE, text
    if all(q >= c.dominance for q in shares):
        return REFUTED, text  # dominated by the last steps: the norm barely sees long distances
    return (QUALIFIED if any(q >= c.dominance for q in shares) else CONFIRMED), text


def _with_vanilla(key):
    return lambda config: tuple(config.claims[key]) + (config.claims.vanilla,)


def _vanilla_names(config):
    extra = config.claims.get("vanilla_counterexample", "")
    return (config.claims.vanilla,) + ((extra,) if extra and extra in config.entries else ())


CLAIMS = (
    Claim("Vanilla RNN: each backward step multiplies by W_hhᵀ·diag(φ'(z_t)), so gradients vanish exponentially",
          lambda c: (f"envelope rate of ‖∂h_(T-1)/∂h_t‖ for the tanh RNN `{c.claims.vanilla}` against −1/τ "
                     f"(τ = {c.regime.timescale:g} steps), scope: |φ'| ≤ 1; a ReLU RNN with identity weights reported "
                     "beside it as outside that scope"),
          "a rate ≥ −1/{c.regime.timescale:g} per step beyond its spread (no exponential vanishing)",
          _vanilla_names, vanilla),
    Claim("Even with orthogonal weights, the activation derivative causes shrinkage",
          lambda c: f"orthogonal tanh `{c.claims.orthogonal_tanh}` vs orthogonal linear `{c.claims.orthogonal_linear}`",
          "the orthogonal tanh RNN's rate ≥ −1/{c.regime.timescale:g} per step (no shrinkage)",
          lambda c: (c.claims.orthogonal_tanh, c.claims.orthogonal_linear), orthogonal),
    Claim("∂c_t/∂c_(t-1) = f_t: when the forget gate is open (f ≈ 1) gradients flow through the cell undiminished",
          lambda c: ("cell-state Jacobians ∂c_(T-1)/∂c_t as the forget bias grows, against the closed form ln σ(b_f) "
                     "per step; the condition f ≈ 1 is the last entry: " + _ticks(c.claims.forget_gate)),
          "the open-gate cell's rate < −1/{c.regime.timescale:g} per step beyond its spread, or a rate that does "
          "not rise with the forget bias", lambda c: tuple(c.claims.forget_gate), forget_gate),
    Claim("Additive paths (LSTM/GRU cell, h_t = h_(t-1) + Δh_t) keep gradients from vanishing, unlike the vanilla RNN",
          lambda c: ("under the claim's condition (gates open, additive update small): rate of each entry vs −1/τ and "
                     f"the vanilla RNN's, against the closed forms ln σ(b_f), ln(1 − σ(b_z)): "
                     f"{_ticks(c.claims.additive)} vs `{c.claims.vanilla}`"),
          "every additive entry vanishing (rate < −1/{c.regime.timescale:g}) or decaying as fast as the vanilla RNN",
          _with_vanilla("additive"), additive),
    Claim("Additive paths at default initialisation (a finding, not the page's condition): the same test on the "
          "default gates and residual scale",
          lambda c: f"rate of {_ticks(c.claims.additive_default)} vs −1/τ and vs `{c.claims.vanilla}`",
          "every entry vanishing or decaying as fast as the vanilla RNN",
          _with_vanilla("additive_default"), additive),
    Claim("Skip connections h_t = f(h_(t-1), x_t) + h_(t-k) give gradient paths of length O(T/k)",
          lambda c: (f"after the burn-in, decay on the lattice d = k, 2k, … (and off it) vs rate_rnn/k: "
                     f"{_ticks(c.claims.skip)} vs `{c.claims.vanilla}`"),
          "a decay rate on d = k, 2k, … below rate_rnn/k by more than {c.claims.prediction_tolerance:g}·|rate_rnn/k|", _with_vanilla("skip"), skip),
    Claim("Hierarchical/multi-scale RNNs: gradients in slow modules travel shorter distances",
          lambda c: "per-module diagonal blocks ∂h_(T-1)[g]/∂h_t[g]: " + _ticks(c.claims.multiscale),
          "a slower module whose decay rate is ≤ a faster module's",
          lambda c: tuple(c.claims.multiscale), multiscale),
    Claim("Dilated causal convolutions give O(log T) gradient paths",
          lambda c: ("a stack of depth ⌈log₂ T⌉ (R ≥ T): per-level factor min_d (‖J(d)‖/‖J(1)‖)^(1/ℓ(d)), "
                     "ℓ(d) = ⌊log2 d⌋ + 1, and a power-law fit of ‖J(d)‖ beside the exponential one: "
                     + _ticks(c.claims.dilated)),
          "‖J(d)‖ < {c.regime.preserved:g}^ℓ(d)·‖J(1)‖ for some 1 ≤ d < min(R, T), ℓ(d) = ⌊log2 d⌋ + 1 (a loss "
          "compounding per step, not per dilation level), or a non-zero Jacobian beyond R",
          lambda c: tuple(c.claims.dilated), dilated),
    Claim("Attention and Transformers connect every position directly: O(1) paths, no multiplicative chain through time",
          lambda c: ("plateau rate of ‖∂h_(T-1)/∂h_t‖ beyond the recurrent path's horizon and half the window (path "
                     "length), the 1/context size of the plateau reported as magnitude: " + _ticks(c.claims.attention)
                     + f", recurrent path `{c.claims.vanilla}`"),
          "a plateau rate at or below the vanilla RNN's rate (a chain); between it and −1/{c.regime.timescale:g}: "
          "qualified (a slow decay)",
          _with_vanilla("attention"), attention),
    Claim("coRNN: hidden-state gradients stay bounded (Rusch & Mishra 2021)",
          lambda c: ("a check, not the page's claim: ‖∂y_(T-1)/∂y_(T-1-d)‖_∞ against the proven ρ^d, ρ = max(q, 1 + Δt·q) "
                     "from each seed's weights, and the regime: " + _ticks(c.claims.cornn)),
          "‖J(d)‖_∞ > ρ^d·exp({c.claims.bound_tolerance:g}) at some d ≥ 1, seed and input",
          lambda c: tuple(c.claims.cornn), cornn, on_page=False),
    Claim("RG-LRU: the √(1 − a_t²) normalisation keeps the state's variance at its input's, whatever the memory "
          "(De et al. 2024)",
          lambda c: (f"a check, not the page's claim (exact only for a constant gate a): Var(h_t)/Var(i_t ⊙ x_t) over "
                     f"the second half of the white-noise inputs and max_d σ_max(∂h_(T-1)/∂h_(T-1-d)): "
                     f"`{c.claims.rg_lru[0]}` vs `{c.claims.rg_lru[1]}`"),
          "a normalised ratio outside [{c.claims.variance_ratio_low:g}, {c.claims.variance_ratio_high:g}], or "
          "σ_max(J(d)) > 1 + {c.claims.expansion_tolerance:g}",
          lambda c: tuple(c.claims.rg_lru), rg_lru, on_page=False),
    Claim("The snippet: LSTM weight gradients exceed the vanilla RNN's, increasingly so as T grows",
          lambda c: ("‖∂L/∂W_hh‖, L = ‖h_(T'-1) − y‖², and the ratio LSTM/RNN at T' = 10, 50, 100, 200 up to the "
                     "condition's T, and T (median over seeds, from the zero state as the snippet runs it)"),
          "an LSTM/RNN gradient ratio ≤ 1 at the largest length", lambda c: tuple(c.claims.snippet), snippet_ratio),
    Claim("The snippet's ‖∂L/∂W_hh‖ vs T measures how gradients flow over long distances",
          lambda c: "share of ‖∂L/∂W‖'s contributions G(d) from the last steps (decomposition by distance d at T)",
          "every model with ≥ {c.claims.dominance:g} of Σ‖G(d)‖ from the last steps", lambda c: tuple(c.claims.snippet), snippet_locality),
)


def evaluate(report, config) -> list:
    """One `ClaimRow` per claim, every condition of ``report.grid`` evaluated."""
    return [evaluate_claim(c, report.architectures, config, report.grid, report.default_condition) for c in CLAIMS]
