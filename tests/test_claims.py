"""Every verdict branch of `seqgrad.report.claims` on synthetic records (closed-form profiles, no model run)."""

from __future__ import annotations

import numpy as np
import pytest

from experiments import gradient_flow
from seqgrad.gradflow import summarize
from seqgrad.gradflow.record import Condition, ConditionVerdict, Stats
from seqgrad.report import claims, verdicts
from seqgrad.report.verdicts import CONFIRMED, DEPENDS, NOT_MEASURED, QUALIFIED, REFUTED, Subject

T = 128
CONFIG = gradient_flow.get_config()
D = np.arange(T, dtype=np.float64)


def subject(profile, options=None, receptive_field=None, **kwargs) -> Subject:
    """A `Subject` whose 2 seeds × 2 inputs all measured ``profile`` ``[T]``."""
    norms = np.broadcast_to(np.asarray(profile, np.float64), (2, 2, T))
    m = summarize.condition_measures(Condition(1.0, T), norms, None, CONFIG, np.float32, **kwargs)
    return Subject(options or {}, receptive_field, m)


def geometric(rho):
    return rho**D


def verdict(rule, **subjects):
    return rule(subjects, CONFIG)[0]


def test_vanilla_branches():
    assert verdict(claims.vanilla, rnn=subject(geometric(0.6))) == CONFIRMED
    plateau = np.where(D < 20, 0.5**D, 0.5**20)  # vanishing (ratio 1e-6) but not an exponential
    assert verdict(claims.vanilla, rnn=subject(plateau)) == QUALIFIED
    assert verdict(claims.vanilla, rnn=subject(np.ones(T))) == REFUTED
    assert verdict(claims.vanilla, rnn=subject(geometric(1.05))) == REFUTED  # growth is not vanishing


def _singular(values):
    return np.broadcast_to(np.asarray(values, np.float64)[:, None], (2, 2, T, 4))


def test_orthogonal_branches():
    exact = subject(np.ones(T), singular_values=_singular(np.ones(T)))
    loose = subject(np.ones(T), singular_values=_singular(np.linspace(1, 1.5, T)))
    assert verdict(claims.orthogonal, tanh=subject(geometric(0.7)), linear=exact) == CONFIRMED
    assert verdict(claims.orthogonal, tanh=subject(geometric(0.7)), linear=loose) == QUALIFIED
    assert verdict(claims.orthogonal, tanh=subject(np.ones(T)), linear=exact) == REFUTED


def test_forget_gate_branches():
    b = [{"forget_bias": v} for v in (0.0, 1.0, 5.0)]
    s = lambda *rhos: {f"fb{i}": subject(geometric(r), b[i]) for i, r in enumerate(rhos)}  # noqa: E731
    assert claims.forget_gate(s(0.5, 0.73, 0.9999), CONFIG)[0] == CONFIRMED
    assert claims.forget_gate(s(0.5, 0.73, 0.9), CONFIG)[0] == QUALIFIED  # opening, but still vanishing
    assert claims.forget_gate(s(0.5, 0.9, 0.73), CONFIG)[0] == REFUTED
    assert "ln σ(b_f) = -0.693" in claims.forget_gate(s(0.5, 0.73, 0.9999), CONFIG)[1]


def test_additive_branches_growth_is_not_support():
    rnn = subject(geometric(0.6))
    assert verdict(claims.additive, lstm=subject(np.ones(T)), rnn=rnn) == CONFIRMED
    assert verdict(claims.additive, lstm=subject(geometric(0.9)), rnn=rnn) == QUALIFIED
    assert verdict(claims.additive, residual=subject(geometric(1.05)), rnn=rnn) == QUALIFIED
    # s = 0.1 in the audit: the vanilla RNN decays slower than the LSTM
    assert verdict(claims.additive, lstm=subject(geometric(0.84)), rnn=subject(geometric(0.945))) == REFUTED


def test_skip_tests_the_o_t_over_k_prediction():
    rnn = subject(geometric(0.6))  # rate ln 0.6 = -0.51; predicted lattice rate -0.064 for k = 8
    k8 = {"skip": 8}
    lattice = np.where(D % 8 == 0, 1.0, 1e-5)
    assert verdict(claims.skip, skip=subject(lattice, k8), rnn=rnn) == CONFIRMED
    growing = np.where(D % 8 == 0, 2.0 ** (D / 8), 1e-5)  # short paths, unbounded state
    assert verdict(claims.skip, skip=subject(growing, k8), rnn=rnn) == QUALIFIED
    chain = np.where(D % 8 == 0, 0.6**D, 1e-30)  # lattice decays like the vanilla chain: no O(T/k) path
    assert verdict(claims.skip, skip=subject(chain, k8), rnn=rnn) == REFUTED
    assert "predicted rate_rnn/k = -0.0639" in claims.skip({"s": subject(lattice, k8), "rnn": rnn}, CONFIG)[1]


def _modules(rates):
    """``[S, I, T, G]`` module profiles ``exp(rate_g · d)``."""
    return np.broadcast_to(np.exp(np.outer(D, rates)), (2, 2, T, len(rates)))


def test_multiscale_branches_on_per_module_profiles():
    opts = {"period_base": 2}
    ms = lambda rates: subject(geometric(0.9), opts, module_norm=_modules(rates))  # noqa: E731
    assert verdict(claims.multiscale, m=ms([-0.4, -0.2, -0.1, -0.05])) == CONFIRMED  # rate_0 / P_g exactly
    assert verdict(claims.multiscale, m=ms([-0.4, -0.35, -0.3, -0.25])) == QUALIFIED  # ordered, slower than predicted
    assert verdict(claims.multiscale, m=ms([-0.4, -0.1, -0.2, -0.05])) == REFUTED
    assert verdict(claims.multiscale, m=subject(geometric(0.9), opts)) == NOT_MEASURED  # no module profiles


def test_dilated_branches():
    ones, inside = np.ones(T), np.where(D < 31, 1.0, 0.0)
    assert verdict(claims.dilated, c=subject(ones, receptive_field=255)) == CONFIRMED
    assert verdict(claims.dilated, c=subject(inside, receptive_field=31)) == QUALIFIED
    assert verdict(claims.dilated, c=subject(ones, receptive_field=31)) == REFUTED  # non-zero beyond R
    assert verdict(claims.dilated, c=subject(geometric(0.8), receptive_field=255)) == REFUTED


def test_attention_branches():
    assert verdict(claims.attention, a=subject(np.ones(T) / T)) == CONFIRMED
    assert verdict(claims.attention, a=subject(geometric(0.99))) == QUALIFIED  # preserved, but a slope
    assert verdict(claims.attention, a=subject(geometric(0.9))) == REFUTED


def _experiment(norms, share):
    s = Stats(share, share, share)
    return {"lengths": [10, 50, 100], "gradient_norm": {"median": np.asarray(norms)}, "last_steps": 10,
            "share_of_last_steps": s}


def test_snippet_branches():
    def run(rule, rnn, lstm):
        return verdict(rule, rnn=subject(geometric(0.6), seed_experiment=rnn),
                       lstm=subject(geometric(0.9), seed_experiment=lstm))

    assert run(claims.snippet_ratio, _experiment([1, 1, 1], 0.9), _experiment([2, 3, 4], 0.9)) == CONFIRMED
    assert run(claims.snippet_ratio, _experiment([1, 1, 1], 0.9), _experiment([0.5, 1, 2], 0.9)) == QUALIFIED
    assert run(claims.snippet_ratio, _experiment([1, 1, 1], 0.9), _experiment([0.5, 0.6, 0.7], 0.9)) == REFUTED
    assert run(claims.snippet_locality, _experiment([1] * 3, 0.99), _experiment([1] * 3, 0.95)) == REFUTED
    assert run(claims.snippet_locality, _experiment([1] * 3, 0.99), _experiment([1] * 3, 0.5)) == QUALIFIED
    assert run(claims.snippet_locality, _experiment([1] * 3, 0.3), _experiment([1] * 3, 0.5)) == CONFIRMED


def test_every_threshold_comes_from_the_config():
    lenient = gradient_flow.get_config()
    with lenient.unlocked():
        lenient.claims.flat_rate = 0.02
    preserved = {"a": subject(geometric(0.99))}
    assert claims.attention(preserved, CONFIG)[0] == QUALIFIED
    assert claims.attention(preserved, lenient)[0] == CONFIRMED


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
