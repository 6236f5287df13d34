"""Mean-field theory of random Elman recurrences (`seqgrad.models.meanfield`)."""

import math

import jax
import numpy as np
import pytest
from scipy import integrate

from seqgrad import models
from seqgrad.gradflow import lyapunov_exponents
from seqgrad.models import meanfield


def _reference(f, q):
    """E[f(√q z)] by adaptive quadrature (scipy's QUADPACK), an independent route."""
    density = lambda z: f(math.sqrt(q) * z) * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)  # noqa: E731
    return integrate.quad(density, -np.inf, np.inf, epsabs=1e-15, epsrel=1e-13, limit=1000)[0]


@pytest.mark.parametrize("q", [1e-6, 0.3, 1.0, 9.0, 100.0, 2500.0])
def test_quadrature_exact_to_1e8(q):
    """Both expectations the theory needs, to 1e-8, also where √q is large and tanh steep."""
    tanh2 = lambda u: np.tanh(u) ** 2  # noqa: E731
    sech4 = lambda u: 1 / np.cosh(np.clip(u, -150, 150)) ** 4  # noqa: E731  (clipped: sech⁴(150) < 1e−259)
    for f in (tanh2, sech4):
        ref = integrate.quad(
            lambda z: f(math.sqrt(q) * z) * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi),
            -40, 40, epsabs=1e-15, epsrel=1e-13, limit=2000, points=[0.0],
        )[0]
        assert meanfield.gaussian_expectation(f, q) == pytest.approx(ref, abs=1e-8)


def test_closed_forms_without_drive():
    """s = 0, g <= 1: q* = 0 and χ₁ = g² exactly; λ = ln g; ξ = −1/(2 ln g)."""
    for g in (0.2, 0.7, 1.0):
        assert meanfield.q_star(g, 0.0) == 0.0
        assert meanfield.chi1(g, 0.0) == pytest.approx(g * g, rel=1e-12)
        assert meanfield.lyapunov(g, 0.0) == pytest.approx(math.log(g), rel=1e-12, abs=1e-14)
    assert meanfield.timescale(0.5, 0.0) == pytest.approx(-1 / (2 * math.log(0.5)), rel=1e-12)
    # Above g = 1 the fixed point leaves 0 and χ₁ < g² (saturation): q* > 0.
    assert meanfield.q_star(1.5, 0.0) > 0 and meanfield.chi1(1.5, 0.0) < 1.5**2
    # Unbounded activations: relu χ₁ = g²/2 and q* = s²/(1 − g²/2); linear q* = s²/(1 − g²).
    assert meanfield.chi1(1.2, 0.7, "relu") == pytest.approx(0.72, rel=1e-12)
    assert meanfield.q_star(1.2, 0.7, "relu") == pytest.approx(0.49 / (1 - 0.72), rel=1e-12)
    assert meanfield.q_star(0.5, 2.0, "linear") == pytest.approx(4 / 0.75, rel=1e-12)
    assert meanfield.q_star(1.5, 1.0, "linear") == math.inf


def test_fixed_point_solves_its_equation():
    for g, s in ((0.5, 1.0), (1.86, 1.0), (3.0, 1.0), (2.0, 0.0), (1.0, 0.3)):
        q = meanfield.q_star(g, s)
        assert q == pytest.approx(g * g * _reference(lambda u: np.tanh(u) ** 2, q) + s * s, rel=1e-10)


def test_against_monte_carlo_of_a_wide_network():
    """A width-4000 tanh RNN (W ~ N(0, g²/N), drive ~ N(0, s²)) after a burn-in: the
    pre-activation variance is q* and g²·mean φ'(a)² is χ₁. Tolerance 2 %: finite N and
    the 2·10^5 samples give ~0.5 % scatter."""
    rng = np.random.default_rng(0)
    N, steps, burn_in = 4000, 80, 30
    for g, s in ((0.8, 1.0), (3.0, 1.0), (1.5, 0.5)):
        W = rng.normal(0, g / math.sqrt(N), (N, N))
        h = np.zeros(N)
        q_samples, chi_samples = [], []
        for t in range(steps):
            a = W @ h + s * rng.normal(size=N)
            h = np.tanh(a)
            if t >= burn_in:
                q_samples.append(np.mean(a * a))
                chi_samples.append(g * g * np.mean((1 - h * h) ** 2))
        assert np.mean(q_samples) == pytest.approx(meanfield.q_star(g, s), rel=0.02)
        assert np.mean(chi_samples) == pytest.approx(meanfield.chi1(g, s), rel=0.02)


def test_critical_gain_is_the_edge_of_chaos():
    assert meanfield.critical_gain(0.0) == 1.0
    assert meanfield.critical_gain(1.0, "relu") == pytest.approx(math.sqrt(2))
    previous = 1.0
    for s in (0.1, 0.5, 1.0, 2.0):
        g = meanfield.critical_gain(s)
        assert meanfield.chi1(g, s) == pytest.approx(1.0, abs=1e-10)
        assert g > previous  # more drive, more gain needed (Molgedey et al. 1992)
        previous = g


def test_profile_is_the_exponential_of_the_exponent():
    d = np.arange(5)
    np.testing.assert_allclose(meanfield.profile(0.5, 0.0, d), 0.5**d, rtol=1e-12)


def _measured_top_exponent(gain, seed, width=512, length=1500, input_dim=128, init="normal"):
    model = models.create("rnn", hidden_size=width, recurrent_init=init, recurrent_scale=gain)
    x = jax.random.normal(jax.random.key(1000 + seed), (length, input_dim))  # unit-variance inputs: s = 1
    params = model.init(jax.random.key(seed), x[None])
    return float(lyapunov_exponents(model, params, x, num_exponents=1, burn_in=200)[0])


def test_measured_exponent_at_the_critical_gain_is_zero():
    """Width 512 at g*(s = 1) ≈ 1.856: measured λ₁ within 0.03 of 0 (seen: −0.007, 0.0001)."""
    g = meanfield.critical_gain(1.0)
    for seed in range(2):
        assert abs(_measured_top_exponent(g, seed)) < 0.03


def test_measured_exponent_matches_the_theory_in_the_chaotic_phase():
    """g = 3, s = 1: ½·ln χ₁ = 0.2685; width 512 measured 0.265, 0.270 (tolerance 0.03)."""
    predicted = meanfield.lyapunov(3.0, 1.0)
    assert predicted == pytest.approx(0.2685, abs=1e-4)
    for seed in range(2):
        assert _measured_top_exponent(3.0, seed) == pytest.approx(predicted, abs=0.03)


def test_scaled_orthogonal_weights_follow_the_same_mean_field():
    """The rnn's default W = Q (orthogonal, g = 1) at s = 1: ½·ln χ₁(1, 1) = −0.4595; width 512
    measured −0.462, −0.458 (tolerance 0.03), which is why `elman_prediction` covers it."""
    for seed in range(2):
        assert _measured_top_exponent(1.0, seed, init="orthogonal") == pytest.approx(meanfield.lyapunov(1.0, 1.0), abs=0.03)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: meanfield.chi1(1.0, 1.0, "sigmoid"), "activation='sigmoid' is invalid"),
        (lambda: meanfield.chi1(-1.0, 1.0), "gain=-1.0 is invalid"),
        (lambda: meanfield.critical_gain(float("nan")), "input_scale=nan is invalid"),
    ],
)
def test_bad_input_is_one_line(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_elman_prediction_reads_the_rnn_options():
    """The RNN's default (orthogonal, g = 1) at s = 1: ½·ln χ₁(1, 1) = −0.4595 (the repository's
    measured decay rate of that entry at s = 1 is −0.457); critical: λ = 0; identity: no prediction."""
    default = meanfield.elman_prediction({}, 1.0)
    assert default["gain"] == 1.0 and default["lyapunov"] == pytest.approx(meanfield.lyapunov(1.0, 1.0))
    assert default["lyapunov"] == pytest.approx(-0.4595, abs=1e-4)
    critical = meanfield.elman_prediction({"recurrent_init": "critical", "critical_input_scale": 0.5}, 0.5)
    assert critical["gain"] == pytest.approx(meanfield.critical_gain(0.5)) and abs(critical["lyapunov"]) < 1e-10
    assert meanfield.elman_prediction({"recurrent_init": "identity"}, 1.0) is None
    assert meanfield.elman_prediction({"activation": "linear", "recurrent_init": "normal",
                                       "recurrent_scale": 1.5}, 1.0) is None
