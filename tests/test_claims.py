"""Every verdict branch of `seqgrad.report.claims` on synthetic records (closed-form profiles, no model run)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from experiments import gradient_flow
from seqgrad.gradflow import predictions
from seqgrad.jobs.gradient_flow import config as config_lib, summaries
from seqgrad.report.record import Condition, ConditionVerdict, Stats
from seqgrad.report import (chain_rules, claims, later_paper_rules, path_rules, snippet_rules,
                            verdicts)
from seqgrad.report.verdicts import CONFIRMED, DEPENDS, INCONCLUSIVE, NOT_MEASURED, QUALIFIED, REFUTED, Subject

T = 128
CONFIG = gradient_flow.get_config()
THRESHOLDS = config_lib.thresholds(CONFIG)
D = np.arange(T, dtype=np.float64)


def subject(profile, options=None, receptive_field=None, **kwargs) -> Subject:
    """A `Subject` whose 2 seeds × 2 inputs all measured ``profile`` ``[T]``."""
    norms = np.broadcast_to(np.asarray(profile, np.float64), (2, 2, T))
    m = summaries.condition_measures(Condition(1.0, T), norms, None, CONFIG, np.float32, thresholds=THRESHOLDS,
                                     **kwargs)
    return Subject(options or {}, receptive_field, m)


def geometric(rho):
    return rho**D


def verdict(rule, **subjects):
    return rule(subjects, CONFIG)[0]


def spread_subject(profiles) -> Subject:
    """A `Subject` whose 2 seeds × 2 inputs measured the four ``profiles`` ``[4, T]``."""
    norms = np.asarray(profiles, np.float64).reshape(2, 2, T)
    return Subject({}, None, summaries.condition_measures(Condition(1.0, T), norms, None, CONFIG, np.float32,
                                                                 thresholds=THRESHOLDS))


def test_vanilla_branches():
    assert verdict(chain_rules.vanilla, rnn=subject(geometric(0.6))) == CONFIRMED
    two_slopes = np.where(D < 20, 0.5**D, 0.5**20 * 0.97 ** (D - 20))  # vanishing, but not one exponential
    assert verdict(chain_rules.vanilla, rnn=subject(two_slopes)) == QUALIFIED
    plateau = np.where(D < 20, 0.5**D, 0.5**20)  # the reachable gradient stops falling: not exponential vanishing
    assert verdict(chain_rules.vanilla, rnn=subject(plateau)) == REFUTED
    assert verdict(chain_rules.vanilla, rnn=subject(np.ones(T))) == REFUTED
    assert verdict(chain_rules.vanilla, rnn=subject(geometric(1.05))) == REFUTED  # growth is not vanishing
    # Rates straddling −1/τ = −0.005 across seeds and inputs: the margin is inside their spread.
    straddle = [np.exp(r * D) for r in (-0.0005, -0.002, -0.009, -0.012)]
    assert verdict(chain_rules.vanilla, rnn=spread_subject(straddle)) == INCONCLUSIVE
    # The ReLU-identity counterexample is reported, never folded into the verdict.
    verdict_, text = chain_rules.vanilla({"rnn": subject(geometric(0.6)), "relu": subject(np.ones(T))}, CONFIG)
    assert verdict_ == CONFIRMED and "outside the scope" in text and "relu: preserved" in text


def _singular(values):
    return np.broadcast_to(np.asarray(values, np.float64)[:, None], (2, 2, T, 4))


def test_orthogonal_branches():
    exact = subject(np.ones(T), singular_values=_singular(np.ones(T)))
    loose = subject(np.ones(T), singular_values=_singular(np.linspace(1, 1.5, T)))
    assert verdict(chain_rules.orthogonal, tanh=subject(geometric(0.7)), linear=exact) == CONFIRMED
    assert verdict(chain_rules.orthogonal, tanh=subject(geometric(0.7)), linear=loose) == QUALIFIED
    assert verdict(chain_rules.orthogonal, tanh=subject(np.ones(T)), linear=exact) == REFUTED
    # A sketch measures singular values at some distances (NaN elsewhere) or none at all.
    sparse = np.full(T, np.nan)
    sparse[[1, 10, 100]] = 1.0
    at_some = subject(np.ones(T), singular_values=_singular(sparse))
    assert verdict(chain_rules.orthogonal, tanh=subject(geometric(0.7)), linear=at_some) == CONFIRMED
    none = subject(np.ones(T), singular_values=_singular(np.full(T, np.nan)))
    assert verdict(chain_rules.orthogonal, tanh=subject(geometric(0.7)), linear=none) == NOT_MEASURED


def _cell(rho, forget_bias):
    """An LSTM cell-state entry with the prediction the main job records for it (`predictions.predict`)."""
    options = {"forget_bias": forget_bias}
    return subject(geometric(rho), options, prediction=predictions.predict("lstm", options, "cell", 1.0))


def test_forget_gate_branches():
    b = (0.0, 1.0, 5.0)
    s = lambda *rhos: {f"fb{i}": _cell(r, b[i]) for i, r in enumerate(rhos)}  # noqa: E731
    assert chain_rules.forget_gate(s(0.5, 0.73, 0.9999), CONFIG)[0] == CONFIRMED
    assert chain_rules.forget_gate(s(0.5, 0.73, 1.01), CONFIG)[0] == CONFIRMED  # grows through indirect paths
    assert chain_rules.forget_gate(s(0.5, 0.73, 0.9), CONFIG)[0] == REFUTED  # opening, but the open gate vanishes
    assert chain_rules.forget_gate(s(0.5, 0.9, 0.73), CONFIG)[0] == REFUTED
    text = chain_rules.forget_gate(s(0.5, 0.73, 0.9999), CONFIG)[1]
    assert "ln σ(b_f), b_f = 0: -0.693/step" in text and "ln σ(b_f), b_f = 5: -0.00672/step" in text
    # The cell at b_f = 5 decays at ln 0.9999 = -1e-4: the indirect paths add -1e-4 - ln σ(5) = 0.00662/step.
    assert "fb2: preserved" in text and "indirect paths (measured − predicted) 0.00662/step" in text


def test_an_entry_without_a_closed_form_states_none():
    """The LSTM's h (not its carry) has no closed-form rate: no prediction is read into the text."""
    options = {"forget_bias": 1.0}
    hidden = subject(geometric(0.9), options, prediction=predictions.predict("lstm", options, "hidden", 1.0))
    text = chain_rules.additive({"lstm": hidden, "rnn": subject(geometric(0.6))}, CONFIG)[1]
    assert hidden.m.prediction is None and "closed form" not in text and "indirect paths" not in text


def test_additive_branches_entry_by_entry():
    rnn = subject(geometric(0.6))
    assert verdict(chain_rules.additive, lstm=subject(np.ones(T)), rnn=rnn) == CONFIRMED
    assert verdict(chain_rules.additive, lstm=subject(geometric(0.9)), rnn=rnn) == REFUTED
    assert verdict(chain_rules.additive, residual=subject(geometric(1.05)), rnn=rnn) == CONFIRMED  # not vanishing
    verdict_, text = chain_rules.additive({"lstm": subject(np.ones(T)), "gru": subject(geometric(0.9)), "rnn": rnn}, CONFIG)
    assert verdict_ == QUALIFIED and text.endswith("`gru`")  # one of two fails: named, not a refutation
    # s = 0.1 in the audit: the vanilla RNN decays slower than the LSTM
    assert verdict(chain_rules.additive, lstm=subject(geometric(0.84)), rnn=subject(geometric(0.945))) == REFUTED


def test_skip_tests_the_o_t_over_k_prediction():
    rnn = subject(geometric(0.6))  # rate ln 0.6 = -0.51; predicted lattice rate -0.064 for k = 8
    k8 = {"skip": 8}
    lattice = np.where(D % 8 == 0, 1.0, 1e-5)
    assert verdict(path_rules.skip, skip=subject(lattice, k8), rnn=rnn) == CONFIRMED
    growing = np.where(D % 8 == 0, 2.0 ** (D / 8), 1e-5)  # short paths, unbounded state
    assert verdict(path_rules.skip, skip=subject(growing, k8), rnn=rnn) == QUALIFIED
    chain = np.where(D % 8 == 0, 0.6**D, 1e-30)  # lattice decays like the vanilla chain: no O(T/k) path
    assert verdict(path_rules.skip, skip=subject(chain, k8), rnn=rnn) == REFUTED
    assert "predicted ≥ rate_rnn/k = -0.0639" in path_rules.skip({"s": subject(lattice, k8), "rnn": rnn}, CONFIG)[1]


def _modules(rates):
    """``[S, I, T, G]`` module profiles ``exp(rate_g · d)``."""
    return np.broadcast_to(np.exp(np.outer(D, rates)), (2, 2, T, len(rates)))


def test_multiscale_branches_on_per_module_profiles():
    opts = {"period_base": 2}
    ms = lambda rates: subject(geometric(0.9), opts, module_norm=_modules(rates))  # noqa: E731
    assert verdict(path_rules.multiscale, m=ms([-0.4, -0.2, -0.1, -0.05])) == CONFIRMED  # rate_0 / P_g exactly
    assert verdict(path_rules.multiscale, m=ms([-0.4, -0.35, -0.3, -0.25])) == QUALIFIED  # ordered, slower than predicted
    assert verdict(path_rules.multiscale, m=ms([-0.4, -0.1, -0.2, -0.05])) == REFUTED
    assert verdict(path_rules.multiscale, m=subject(geometric(0.9), opts)) == NOT_MEASURED  # no module profiles


def test_levels_are_the_binary_digits_of_d():
    np.testing.assert_array_equal(path_rules.levels([1, 2, 3, 4, 7, 8, 127, 128, 254]), [1, 2, 2, 3, 3, 4, 7, 8, 8])
    factor, at = path_rules.level_factor(np.r_[1.0, 1.0, 0.25, 0.5, 1e-3], 5)  # (0.25)^(1/2), (0.5)^(1/2), (1e-3)^(1/3)
    assert (factor, at) == (pytest.approx(0.1), 4)


def test_dilated_branches():
    """Per-level rule: (‖J(d)‖/‖J(1)‖)^(1/ℓ(d)) ≥ config.regime.preserved within min(R, T); exact zeros beyond R."""
    digits = np.array([bin(int(d)).count("1") for d in D])
    binary = np.where(D > 0, 0.5 ** (digits - 1), 1.0)  # a kernel-2 stack: the paths to d follow d's binary digits
    assert subject(binary, receptive_field=255).m.shape["shape"] == "periodic"  # dips by construction ...
    assert verdict(path_rules.dilated, c=subject(binary, receptive_field=255)) == CONFIRMED  # ... which do not refute
    power = np.where(D > 0, 1.0 / np.maximum(D, 1), 1.0)  # ≈ d^(-1): a factor ½ per level, 0.008 at d = 127
    assert verdict(path_rules.dilated, c=subject(power, receptive_field=255)) == CONFIRMED
    assert subject(power, receptive_field=255).m.regime == "power-law decay"  # α = 1, not a per-step rate
    inside = np.where(D < 31, power, 0.0)
    assert verdict(path_rules.dilated, c=subject(inside, receptive_field=31)) == QUALIFIED  # R < T: depth must grow
    assert verdict(path_rules.dilated, c=subject(power, receptive_field=31)) == REFUTED  # non-zero beyond R
    # A chain: 0.8^d loses a factor per step; at d = 127, (0.8^126)^(1/7) = 0.018 < 0.1 per level.
    assert verdict(path_rules.dilated, c=subject(geometric(0.8), receptive_field=255)) == REFUTED
    assert verdict(path_rules.dilated, c=subject(np.where(D == 5, 0.0, power), receptive_field=255)) == REFUTED  # a zero in R
    text = path_rules.dilated({"c": subject(power, receptive_field=255)}, CONFIG)[1]
    assert "no exact zero within T" in text and "per-level factor 0.501" in text and "power law α = 1 (r² 1)" in text
    assert "exactly 0 from d = 31" in path_rules.dilated({"c": subject(inside, receptive_field=31)}, CONFIG)[1]


def test_dilated_reads_the_shallowest_stack_that_reaches_T():
    """Depth ⌈log₂ T⌉ per T: at T = 128 a 7-block stack (R = 255) is read and the 9-block one (R = 1023) is
    not; the chain-like deep stack cannot refute, the shallow one decides, and without a stack that reaches
    T every entry is read (qualified: a fixed depth)."""
    power = np.where(D > 0, 1.0 / np.maximum(D, 1), 1.0)
    chain = geometric(0.8)
    assert path_rules.depth_for_T({"L7": subject(power, receptive_field=255), "L9": subject(chain, receptive_field=1023),
                                   "L4": subject(power, receptive_field=31)}) == (["L7"], ["L9", "L4"])
    verdict_, text = path_rules.dilated({"L7": subject(power, receptive_field=255),
                                         "L9": subject(chain, receptive_field=1023)}, CONFIG)
    assert verdict_ == CONFIRMED and "the shallowest stack with R ≥ T is read: L7; not read: L9 (R = 1023)" in text
    swapped = {"L7": subject(chain, receptive_field=255), "L9": subject(power, receptive_field=1023)}
    assert verdict(path_rules.dilated, **swapped) == REFUTED  # the stack of this T's depth decides
    inside = np.where(D < 31, power, 0.0)
    assert path_rules.depth_for_T({"L4": subject(inside, receptive_field=31)}) == (["L4"], [])
    assert verdict(path_rules.dilated, L4=subject(inside, receptive_field=31), L3=subject(
        np.where(D < 15, power, 0.0), receptive_field=15)) == QUALIFIED


def test_dilated_threshold_comes_from_the_config():
    strict = gradient_flow.get_config()
    with strict.unlocked():
        strict.regime.preserved = 0.6  # more than the ½ per level a 1/d profile keeps
    power = np.where(D > 0, 1.0 / np.maximum(D, 1), 1.0)
    assert path_rules.dilated({"c": subject(power, receptive_field=255)}, strict)[0] == REFUTED


RHO = 1.05


def _cornn(profile, inf_norm, log_bound=np.log(RHO)):
    inf = np.broadcast_to(np.asarray(inf_norm, np.float64), (2, 2, T))
    return subject(profile, inf_norm=inf, log_bound=np.full(2, log_bound))


def test_bound_excess_is_the_largest_log_ratio():
    """ρ_s^d·c_(s,i) ⇒ max ln(‖J‖_∞/ρ^d) = ln max c; d = 0 (J = I) is not read; zeros never exceed."""
    rho = np.array([1.05, 1.2])
    c = np.array([[0.5, 0.25], [0.125, 0.1]])
    inf = c[:, :, None] * rho[:, None, None] ** D
    inf[..., 0] = 7.0  # d = 0 ignored
    inf[0, 0, 5] = 0.0
    assert summaries.bound_excess(inf, np.log(rho)) == pytest.approx(np.log(0.5), rel=1e-12)


def test_cornn_branches():
    ones = np.ones(T)
    assert verdict(later_paper_rules.cornn, c=_cornn(ones, ones)) == CONFIRMED  # ‖J(d)‖_∞ = 1 ≤ ρ^d, preserved
    assert verdict(later_paper_rules.cornn, c=_cornn(geometric(0.6), geometric(0.6))) == QUALIFIED  # bounded, but vanishing
    assert verdict(later_paper_rules.cornn, c=_cornn(ones, 1.1**D)) == REFUTED  # 1.1^d > 1.05^d
    assert verdict(later_paper_rules.cornn, c=subject(ones)) == NOT_MEASURED  # no bound in the record
    text = later_paper_rules.cornn({"c": _cornn(ones, 0.5 * RHO**D)}, CONFIG)[1]
    assert "ρ = 1.05" in text and "largest ‖J(d)‖_∞/ρ^d (d ≥ 1, every seed and input) = 0.5" in text
    assert "regime preserved" in text


def test_cornn_tolerance_comes_from_the_config():
    at_bound = _cornn(np.ones(T), RHO**D * (1 + 1e-7))  # ln excess 1e-7: within 1e-6, not within 1e-8
    assert later_paper_rules.cornn({"c": at_bound}, CONFIG)[0] == CONFIRMED
    strict = gradient_flow.get_config()
    with strict.unlocked():
        strict.claims.bound_tolerance = 1e-8
    assert later_paper_rules.cornn({"c": at_bound}, strict)[0] == REFUTED


def _rg(ratio, profile=None, **kwargs):
    return subject(np.ones(T) if profile is None else profile, variance_ratio=np.full(2, ratio), **kwargs)


def test_rg_lru_check_branches():
    decaying = geometric(0.99)  # diag(∏ a): σ_max ≤ 1
    check = later_paper_rules.rg_lru_check
    assert verdict(check, n=_rg(0.93, decaying), u=_rg(40.0, decaying)) == CONFIRMED
    assert verdict(check, n=_rg(0.93, decaying), u=_rg(1.1, decaying)) == QUALIFIED  # no contrast
    assert verdict(check, n=_rg(2.0, decaying), u=_rg(40.0, decaying)) == REFUTED  # scale not kept
    assert verdict(check, n=_rg(0.5, decaying), u=_rg(40.0, decaying)) == REFUTED
    expanding = np.where(D == 3, 1.01, decaying)
    assert verdict(check, n=_rg(0.93, expanding), u=_rg(40.0, decaying)) == REFUTED  # σ_max > 1 + tol
    assert verdict(check, n=subject(decaying), u=_rg(40.0)) == NOT_MEASURED
    assert verdict(check, n=_rg(float("nan")), u=_rg(40.0)) == NOT_MEASURED  # num_inputs < 2
    text = check({"n": _rg(0.93, decaying), "u": _rg(40.0, decaying)}, CONFIG)[1]
    assert "n: Var(h_t)/[(1 − ∏_{s≤t} a_s²)·Var(i_t ⊙ u_t)] = 0.93" in text and "u: Var(h_t)" in text
    assert "= 40 [40, 40]" in text and "σ_max(J(d)) = 1" in text


def test_rg_lru_check_band_comes_from_the_config():
    wide = gradient_flow.get_config()
    with wide.unlocked():
        wide.claims.variance_ratio_high = 50.0
    pair = {"n": _rg(0.93), "u": _rg(40.0)}
    check = later_paper_rules.rg_lru_check
    assert check(pair, CONFIG)[0] == CONFIRMED and check(pair, wide)[0] == QUALIFIED


A_MAX = 0.996  # max_c a_c of a constant-gate RG-LRU: ‖J(d)‖₂ = A_MAX^d
CONSTANT = {"constant_gate": True}


def _constant(ratios, profile=None, options=CONSTANT):
    """A constant-gate entry: per-seed variance ratios ``ratios``, every sequence's profile ``profile``."""
    return subject(geometric(A_MAX) if profile is None else profile, options, variance_ratio=np.asarray(ratios))


def test_rg_lru_constant_gate_confirmed_where_both_closed_forms_hold():
    rule = later_paper_rules.rg_lru_constant_gate
    verdict_, text = rule({"c": _constant([0.97, 0.99, 1.01, 1.03])}, CONFIG)
    assert verdict_ == CONFIRMED
    # The margin to the band [0.8, 1.25] and the spread over initialisations are stated beside the ratio ...
    assert "= 1 [0.985, 1.02] against the closed form 1: margin to [0.8, 1.25] 0.2, IQR 0.03" in text
    # ... and the rate's deviation from ln max_c a_c = ln 0.996 = -0.00401 (0 up to rounding), its tolerance 0.5·|·|.
    assert "(= ln ‖J(1)‖ = -0.00401/step): " in text and "tolerance 0.002" in text and "max_c a_c = 0.996" in text
    assert abs(later_paper_rules.rate_deviations(_constant([1.0, 1.0]), CONFIG)[0]) < 1e-12


def test_rg_lru_constant_gate_refuted():
    rule = later_paper_rules.rg_lru_constant_gate
    # √(1 − a) in place of √(1 − a²): Var(h)/Var(v) = 1/(1 + a) ≈ 0.5, far outside the band beyond its spread.
    assert verdict(rule, c=_constant([0.49, 0.5, 0.51, 0.52])) == REFUTED
    assert verdict(rule, c=_constant([30.0, 35.0, 40.0, 45.0])) == REFUTED  # no normalisation: 1/(1 − a²)
    # J(d) not diag(a^d): ‖J(1)‖ = 0.996 but the profile decays at ln 0.98 (a dense or time-varying product).
    chain = np.where(D <= 1, A_MAX**D, A_MAX * 0.98 ** (D - 1))
    assert verdict(rule, c=_constant([1.0, 1.0], chain)) == REFUTED
    assert verdict(rule, c=_constant([1.0, 1.0], np.where(D == 5, 1.01, geometric(A_MAX)))) == REFUTED  # σ_max > 1
    assert verdict(rule, c=_constant([1.0, 1.0], np.ones(T))) == REFUTED  # ‖J(1)‖ = 1: a = 1, no decay


def test_rg_lru_constant_gate_inconclusive_inside_the_spread():
    rule = later_paper_rules.rg_lru_constant_gate
    # Ratios straddling the band's edge 1.25 across initialisations: margin -0.025, IQR 0.21.
    assert verdict(rule, c=_constant([1.1, 1.2, 1.35, 1.5])) == INCONCLUSIVE
    # ‖J(1)‖ = 0.996 in every sequence, rates beyond d = 1 from -0.008 to -0.002: the median profile is off
    # ln 0.996 by -0.0025/step (tolerance 0.002, margin -0.0005), the quartile profiles by -0.0032 to -0.0008.
    profiles = [np.where(D == 0, 1.0, A_MAX * np.exp(r * (D - 1))) for r in (-0.0080, -0.0070, -0.0060, -0.0020)]
    s = spread_subject(profiles)
    s = Subject(CONSTANT, None, dataclasses.replace(s.m, variance_ratio=Stats(1.0, 1.0, 1.0)))
    assert verdict(rule, c=s) == INCONCLUSIVE


def test_rg_lru_constant_gate_needs_a_constant_gate_and_a_ratio():
    rule = later_paper_rules.rg_lru_constant_gate
    assert verdict(rule, c=_constant([1.0, 1.0], options={})) == NOT_MEASURED  # the default gate reads the input
    assert verdict(rule, c=subject(geometric(A_MAX), CONSTANT)) == NOT_MEASURED  # no hook
    assert verdict(rule, c=_constant([np.nan, np.nan])) == NOT_MEASURED  # num_inputs < 2


def test_zero_directions_make_the_product_singular_not_finite_exponents():
    from types import SimpleNamespace

    from seqgrad.report import tables

    recorded = CONFIG.lyapunov.T - CONFIG.burn_in
    m = subject(np.ones(T), lyapunov=np.zeros((2, 4)), lyapunov_zero_directions=np.array([2, 1]),
                lyapunov_steps=recorded).m
    assert m.lyapunov_zero_directions == 3
    assert m.lyapunov_top is None and m.lyapunov_top_between_restarts.median == 0.0
    steps = 2 * CONFIG.lyapunov.num_exponents * recorded
    assert m.lyapunov_singular == {"annihilations": 3, "direction_steps": steps, "share": 3 / steps}
    regular = subject(np.ones(T), lyapunov=np.zeros((2, 4)), lyapunov_zero_directions=np.array([0, 0])).m
    assert regular.lyapunov_singular is None and regular.lyapunov_top.median == 0.0
    e = SimpleNamespace(lyapunov_top=None, lyapunov_note=None, num_seeds=2, lyapunov_singular=m.lyapunov_singular)
    assert tables._lyapunov(e).startswith("singular product: 3 annihilated directions")
    e = SimpleNamespace(lyapunov_top=Stats(-0.1, -0.2, 0.0), lyapunov_note=None, lyapunov_singular=None)
    assert tables._lyapunov(e) == "-0.1 [-0.2, 0]"


def test_attention_branches():
    rnn = subject(geometric(0.6))
    assert verdict(path_rules.attention, a=subject(np.ones(T) / T), rnn=rnn) == CONFIRMED
    assert verdict(path_rules.attention, a=subject(geometric(0.99)), rnn=rnn) == QUALIFIED  # a slow decay, not a chain
    assert verdict(path_rules.attention, a=subject(geometric(0.6)), rnn=rnn) == REFUTED  # decays like the chain
    # The recurrent path's horizon covers the window: no plateau to read.
    assert verdict(path_rules.attention, a=subject(np.ones(T) / T), rnn=subject(np.ones(T))) == INCONCLUSIVE
    # The plateau's size is magnitude (1/context), not path length: a 4x smaller plateau is still confirmed.
    assert verdict(path_rules.attention, a=subject(np.ones(T) / (4 * T)), rnn=rnn) == CONFIRMED


def _experiment(norms, share):
    s = Stats(share, share, share)
    return {"lengths": [10, 50, 100], "gradient_norm": {"median": np.asarray(norms)}, "last_steps": 10,
            "share_of_last_steps": s}


def test_snippet_branches():
    def run(rule, rnn, lstm):
        return verdict(rule, rnn=subject(geometric(0.6), seed_experiment=rnn),
                       lstm=subject(geometric(0.9), seed_experiment=lstm))

    assert run(snippet_rules.snippet_ratio, _experiment([1, 1, 1], 0.9), _experiment([2, 3, 4], 0.9)) == CONFIRMED
    assert run(snippet_rules.snippet_ratio, _experiment([1, 1, 1], 0.9), _experiment([0.5, 1, 2], 0.9)) == QUALIFIED
    assert run(snippet_rules.snippet_ratio, _experiment([1, 1, 1], 0.9), _experiment([0.5, 0.6, 0.7], 0.9)) == REFUTED
    assert run(snippet_rules.snippet_locality, _experiment([1] * 3, 0.99), _experiment([1] * 3, 0.95)) == REFUTED
    assert run(snippet_rules.snippet_locality, _experiment([1] * 3, 0.99), _experiment([1] * 3, 0.5)) == QUALIFIED
    assert run(snippet_rules.snippet_locality, _experiment([1] * 3, 0.3), _experiment([1] * 3, 0.5)) == CONFIRMED


def test_every_threshold_comes_from_the_config():
    lenient = gradient_flow.get_config()
    with lenient.unlocked():
        lenient.regime.timescale = 50.0  # |rate| ≤ 0.02 is preserved
    preserved = {"a": subject(geometric(0.99)), "rnn": subject(geometric(0.6))}
    assert path_rules.attention(preserved, CONFIG)[0] == QUALIFIED
    assert path_rules.attention(preserved, lenient)[0] == CONFIRMED


def _row(scale, length, v):
    return ConditionVerdict(Condition(scale, length), v, "")


def test_overall_verdict_needs_every_condition_to_agree():
    same = [_row(s, n, CONFIRMED) for s in (0.1, 1.0) for n in (128, 512)]
    assert verdicts.overall(same) == (CONFIRMED, [])
    by_scale = [_row(s, n, REFUTED if s == 0.1 else CONFIRMED) for s in (0.1, 1.0) for n in (128, 512)]
    assert verdicts.overall(by_scale) == (DEPENDS, ["input_scale"])
    by_length = [_row(s, n, QUALIFIED if n == 512 else CONFIRMED) for s in (0.1, 1.0) for n in (128, 512)]
    assert verdicts.overall(by_length) == (DEPENDS, ["T"])
    both = [_row(0.1, 128, REFUTED), _row(0.1, 512, CONFIRMED), _row(1.0, 128, CONFIRMED), _row(1.0, 512, CONFIRMED)]
    assert verdicts.overall(both) == (DEPENDS, ["input_scale", "T"])


@pytest.mark.parametrize("claim", claims.CLAIMS, ids=lambda c: c.claim[:30])
def test_a_missing_entry_is_not_measured_in_every_condition(claim):
    grid = [Condition(1.0, T), Condition(0.1, T)]
    row = verdicts.evaluate_claim(claim, {}, CONFIG, grid, grid[0])
    assert row.verdict == NOT_MEASURED and len(row.by_condition) == 2 and row.refuted_if
