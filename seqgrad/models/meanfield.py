"""Mean-field theory of random Elman recurrences: fixed point, χ₁, Lyapunov exponent, critical gain.

For the Elman RNN ``h_t = φ(W h_{t−1} + U x_t + b)`` of width N with
``W_ij ~ N(0, g²/N)``, an input drive ``(U x_t)_i`` of variance ``s²`` per unit and
biases ``b_i ~ N(0, σ_b²)``, the pre-activations ``a_t = W h_{t−1} + U x_t + b`` are,
as N → ∞, Gaussian with a variance q that settles at the fixed point

    q* = g²·E_z[φ(√q* z)²] + s² + σ_b²,        z ~ N(0, 1),

and the squared norm of a tangent vector grows, per step, by

    χ₁ = g²·E_z[φ'(√q* z)²].

So the top Lyapunov exponent (nats per step) and the timescale of gradient decay are

    λ₁ = ½·ln χ₁,        ξ = −1 / ln χ₁   (‖∂h_T/∂h_t‖² ∝ χ₁^(T−t) = e^(−(T−t)/ξ)),

and the network is at the edge of chaos when χ₁ = 1 (`critical_gain`). At s = σ_b = 0
and g ≤ 1 the only fixed point of a tanh network is q* = 0, where χ₁ = g² exactly;
an input drive (s > 0) lowers E[φ'²] and moves the transition to a gain g* > 1 — the
noise-induced suppression of chaos of Molgedey, Schuchhardt & Schuster (1992).

References: Molgedey, Schuchhardt & Schuster 1992, "Suppressing chaos in neural
networks by noise", PRL 69; Poole, Lahiri, Raghu, Sohl-Dickstein & Ganguli 2016,
"Exponential expressivity in deep neural networks through transient chaos" (q*, χ₁,
the order-to-chaos transition); Chen, Pennington & Schoenholz 2018, "Dynamical
isometry and a mean field theory of RNNs" (the same recursion for recurrent networks
with inputs, ξ).

seqgrad's convention for s. `seqgrad.models.rnn.RNN` draws its input kernel
``U: [D, H]`` LeCun-normal, ``U_di ~ N(0, 1/D)``; for inputs ``x ~ input_scale·N(0, 1)^D``
(the convention of the gradient-flow conditions) the drive ``(x U)_i`` has variance
``Σ_d U_di²·input_scale²``, whose mean over U is exactly ``input_scale²``. So
``input_scale`` here is the per-coordinate standard deviation of the inputs, and
``s = input_scale`` (per-unit fluctuations of ``Σ_d U_di²`` are O(1/√D)). The biases
start at zero (``bias_scale = 0``). ``recurrent_init="normal"`` with
``recurrent_scale = g`` is ``W ~ N(0, g²/H)``; ``recurrent_init="critical"`` uses
``g = critical_gain(critical_input_scale)``.

Quadrature. Expectations are computed by composite Gauss–Legendre quadrature over
z ∈ [−12, 12] (Gaussian tail below 1e−32) on panels no wider than ``0.5·min(1, 1/√q)``
(16 nodes each), accurate to ~1e−14 for any q. Plain Gauss–Hermite is exact to 1e−8
only while √q ≲ 1: the poles of tanh(√q z) at z = ±iπ/(2√q) approach the real axis as
q grows (with 256 nodes, E[sech⁴(√q z)] is off by 2e−5 at √q = 3 and 2e−2 at √q = 10).

All functions take Python floats and return Python floats (float64 throughout).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import optimize



def _sech2(u):
    """sech²(u) = 4e^(−2|u|)/(1 + e^(−2|u|))², without the overflow of cosh."""
    e = np.exp(-2.0 * np.abs(u))
    return 4.0 * e / (1.0 + e) ** 2


# φ, φ', and c with E[φ(√q z)²] = c·q for a positively homogeneous φ (None: use quadrature).
_ACTIVATIONS = {
    "tanh": (np.tanh, _sech2, None),
    "relu": (lambda u: np.maximum(u, 0.0), lambda u: (u > 0).astype(float), 0.5),
    "linear": (lambda u: u, np.ones_like, 1.0),
}
ACTIVATIONS = tuple(_ACTIVATIONS)
_Z_MAX = 12.0  # P(|z| > 12) ≈ 3.6e−33
_NODES_PER_PANEL = 16


@functools.lru_cache(maxsize=None)
def _legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(n)


@functools.lru_cache(maxsize=64)
def _rule(panels: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes z and weights w with ``Σ w f(z) ≈ E_z[f(z)]``, z ~ N(0, 1), on ``panels`` equal panels."""
    t, v = _legendre(_NODES_PER_PANEL)
    edges = np.linspace(-_Z_MAX, _Z_MAX, panels + 1)
    half = 0.5 * (edges[1:] - edges[:-1])
    mid = 0.5 * (edges[1:] + edges[:-1])
    z = (mid[:, None] + half[:, None] * t[None, :]).ravel()
    w = (half[:, None] * v[None, :]).ravel() * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    return z, w


def gaussian_expectation(f, q: float) -> float:
    """``E[f(√q z)]`` for z ~ N(0, 1) by composite Gauss–Legendre quadrature (module docstring).

    ``f`` maps a float64 array to an array of the same shape; an even panel count puts
    a node boundary at 0, so kinks there (ReLU) are integrated exactly.
    """
    if q < 0:
        raise ValueError(f"q={q!r} is invalid: a variance must be >= 0")
    width = 0.5 * min(1.0, 1.0 / math.sqrt(q)) if q > 0 else 0.5
    panels = 2 * math.ceil(_Z_MAX / width)
    z, w = _rule(panels)
    return float(w @ f(math.sqrt(q) * z))


def _check(gain: float, input_scale: float, activation: str, bias_scale: float = 0.0) -> None:
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation={activation!r} is invalid; valid choices: {list(ACTIVATIONS)}")
    for name, value in (("gain", gain), ("input_scale", input_scale), ("bias_scale", bias_scale)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name}={value!r} is invalid: it must be a finite number >= 0")


def q_star(gain: float, input_scale: float, activation: str = "tanh", *, bias_scale: float = 0.0) -> float:
    """The stable fixed point q* of ``q = g²·E[φ(√q z)²] + s² + σ_b²`` (pre-activation variance).

    Args:
      gain: g, the recurrent weights being ``W_ij ~ N(0, g²/N)``.
      input_scale: s, the standard deviation of the input drive per unit (module docstring).
      activation: φ, one of `ACTIVATIONS`.
      bias_scale: σ_b, the standard deviation of the biases.

    Returns:
      q* >= 0; 0 for tanh with s = σ_b = 0 and g <= 1; ``inf`` for an unbounded φ
      (relu, linear) whose variance diverges (g²·c >= 1 with c = ½, 1).
    """
    _check(gain, input_scale, activation, bias_scale)
    phi, _, homogeneous = _ACTIVATIONS[activation]
    drive = input_scale**2 + bias_scale**2
    g2 = gain**2
    if homogeneous is not None:  # q = g² c q + drive
        if drive == 0:
            return 0.0
        return drive / (1 - g2 * homogeneous) if g2 * homogeneous < 1 else math.inf

    def excess(q):
        return g2 * gaussian_expectation(lambda u: phi(u) ** 2, q) + drive - q

    lo = drive
    if drive == 0:
        if g2 <= 1:  # tanh² u < u² for u ≠ 0: g² E[φ²] < q, so only q = 0
            return 0.0
        lo = (g2 - 1) / (4 * g2)  # E[tanh²(√q z)] = q − 2q² + O(q³): excess > 0 below (g²−1)/(2g²)
        while excess(lo) <= 0:
            lo /= 4
    hi = g2 + drive  # E[tanh²] < 1
    if excess(lo) == 0:
        return lo
    return float(optimize.brentq(excess, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=200))


def chi1(gain: float, input_scale: float, activation: str = "tanh", *, bias_scale: float = 0.0) -> float:
    """``χ₁ = g²·E[φ'(√q* z)²]``: the mean growth of a squared tangent norm per step.

    χ₁ < 1: ordered (gradients vanish as χ₁^(d/2) over d steps); χ₁ > 1: chaotic.
    Closed forms: χ₁ = g² at s = σ_b = 0 for tanh with g <= 1 (q* = 0, φ'(0) = 1) and for
    linear φ; χ₁ = g²/2 for relu.
    """
    q = q_star(gain, input_scale, activation, bias_scale=bias_scale)
    _, dphi, homogeneous = _ACTIVATIONS[activation]
    if activation == "linear":
        return float(gain**2)
    if homogeneous is not None:  # relu: P(u > 0) = ½ whatever q > 0
        return float(gain**2 * 0.5)
    return float(gain**2 * gaussian_expectation(lambda u: dphi(u) ** 2, q))


def lyapunov(gain: float, input_scale: float, activation: str = "tanh", *, bias_scale: float = 0.0) -> float:
    """The predicted top Lyapunov exponent ``λ₁ = ½·ln χ₁`` (nats per step).

    Compare with `seqgrad.gradflow.lyapunov_exponents` of a wide `RNN` with
    ``recurrent_init="normal"``, ``recurrent_scale=gain`` driven by ``x ~ input_scale·N(0, 1)``.
    """
    c = chi1(gain, input_scale, activation, bias_scale=bias_scale)
    return 0.5 * math.log(c) if c > 0 else -math.inf


def timescale(gain: float, input_scale: float, activation: str = "tanh", *, bias_scale: float = 0.0) -> float:
    """``ξ = −1/ln χ₁``: ‖∂h_T/∂h_t‖² ∝ e^(−(T−t)/ξ) (steps); ``inf`` at χ₁ = 1, negative when chaotic."""
    c = chi1(gain, input_scale, activation, bias_scale=bias_scale)
    if c == 1:
        return math.inf
    return -1.0 / math.log(c) if c > 0 else 0.0


def critical_gain(input_scale: float, activation: str = "tanh", *, bias_scale: float = 0.0) -> float:
    """The gain g* with ``χ₁(g*, input_scale) = 1`` (the edge of chaos).

    tanh: g* = 1 at s = σ_b = 0 and grows with the drive (Molgedey et al. 1992); χ₁
    increases with g, so the root is unique. relu: √2; linear: 1 (whatever s).
    """
    _check(1.0, input_scale, activation, bias_scale)
    if activation == "relu":
        return math.sqrt(2.0)
    if activation == "linear" or input_scale == 0 and bias_scale == 0:
        return 1.0

    def excess(g):
        return chi1(g, input_scale, activation, bias_scale=bias_scale) - 1.0

    hi = 2.0
    while excess(hi) < 0:  # χ₁ grows like g for large g (q* ∝ g², E[φ'²] ∝ 1/g)
        hi *= 2
    return float(optimize.brentq(excess, 1.0, hi, xtol=1e-14, rtol=4 * np.finfo(float).eps, maxiter=200))


def profile(gain: float, input_scale: float, distances, activation: str = "tanh", *, bias_scale: float = 0.0):
    """The predicted gradient-norm profile ``‖∂h_T/∂h_{T−d}‖ ∝ χ₁^(d/2)`` at ``distances`` (``[n]`` float64).

    Normalised to 1 at d = 0; on a log axis it is the line of slope ``λ₁ = ½·ln χ₁`` per step.
    """
    d = np.asarray(distances, dtype=np.float64)
    return np.exp(d * lyapunov(gain, input_scale, activation, bias_scale=bias_scale))


# Recurrent initialisers of `seqgrad.models.rnn.RNN` the theory covers: i.i.d. Gaussian W
# (normal, critical) and scale·Q with Q Haar-orthogonal, whose entries have the same
# variance g²/N and whose χ₁ is the same mean-field quantity.
COVERED_INITS = ("normal", "critical", "orthogonal")


def elman_prediction(options: dict, input_scale: float) -> dict[str, float] | None:
    """The mean-field prediction for an `RNN` entry with model ``options`` driven by
    ``x ~ input_scale·N(0, 1)^D``; None where the theory does not apply.

    Args:
      options: the RNN's options (``activation``, ``recurrent_init``, ``recurrent_scale``,
        ``critical_input_scale``; absent ones take the RNN's defaults).
      input_scale: s, the standard deviation of the inputs (the drive per unit, module docstring).

    Returns:
      ``{"gain", "q_star", "chi1", "lyapunov", "timescale"}``, with ``lyapunov`` the slope
      (nats per step) of ``log ‖∂h_T/∂h_{T−d}‖`` against d that `profile` draws; None for
      ``recurrent_init="identity"`` (a deterministic W: no mean field) and for an
      unbounded φ whose variance diverges.
    """
    activation = options.get("activation", "tanh")
    init = options.get("recurrent_init", "orthogonal")
    if init not in COVERED_INITS or activation not in _ACTIVATIONS:
        return None
    gain = float(options.get("recurrent_scale", 1.0))
    if init == "critical":
        gain *= critical_gain(float(options.get("critical_input_scale", 1.0)), activation)
    q = q_star(gain, input_scale, activation)
    if not math.isfinite(q):
        return None
    return {"gain": gain, "q_star": q, "chi1": chi1(gain, input_scale, activation),
            "lyapunov": lyapunov(gain, input_scale, activation), "timescale": timescale(gain, input_scale, activation)}
