"""What theory predicts for an entry's gradient flow, to sit beside what the main job measures.

``predict(arch, options, site, input_scale) -> {"rate", "source", ...} | None``: the
predicted per-step rate of ``ln ‖∂h_(T−1)/∂h_(T−1−d)‖`` (nats/step) where a closed
form or the mean-field theory applies, else None:

* the Elman RNN (`seqgrad.models.rnn`) with a random W (orthogonal, Gaussian, critical):
  the mean-field top exponent ½·ln χ₁ (`seqgrad.models.meanfield.elman_prediction`;
  Poole et al. 2016, Chen, Pennington & Schoenholz 2018), which is also the predicted
  top Lyapunov exponent; a linear orthogonal RNN: 0 (every singular value is 1);
* the LSTM cell state (site ``"cell"``): ``ln σ(b_f)``, exact for zero weights
  (``∂c_t/∂c_(t−1) = σ(b_f)``); the indirect paths c → h → gates are what the
  measurement adds to it;
* the GRU (``h_t = (1 − z)·h_(t−1) + z·h̃``): ``ln(1 − σ(b_z))``, exact for zero weights.

Chrono-initialised entries draw their biases per unit (no single rate) and get None.

The RG-LRU at a constant gate (``constant_gate=True``, `seqgrad.models.rg_lru`) has closed forms
in its drawn per-unit ``a = σ(Λ)^c``, not in its options: `diagonal_jacobian`, `diagonal_rate` and
`zero_state_variance_fraction` take the ``a``'s (the main job's claim reads them as ``‖J(1)‖ =
max_c a_c`` and through the model's variance hook).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from seqgrad.models import meanfield


def _log_sigmoid(z: float) -> float:
    return -math.log1p(math.exp(-z)) if z >= 0 else z - math.log1p(math.exp(z))


def predict(arch: str, options: Mapping[str, Any], site: str, input_scale: float, init: str = "") -> dict | None:
    """The predicted per-step rate of an entry's profile at inputs ``x ~ input_scale·N(0, 1)`` (module docstring)."""
    if init or options.get("chrono"):
        return None
    if arch == "rnn":
        if options.get("activation", "tanh") == "linear" and options.get("recurrent_init", "orthogonal") in (
                "orthogonal", "identity") and float(options.get("recurrent_scale", 1.0)) == 1.0:
            return {"rate": 0.0, "source": "closed form: orthogonal linear map, |λ| = 1"}
        pred = meanfield.elman_prediction(dict(options), float(input_scale))
        if pred is None:
            return None
        return {"rate": pred["lyapunov"], "source": f"mean field: ½·ln χ₁, gain {pred['gain']:.3g}",
                "lyapunov": pred["lyapunov"], "chi1": pred["chi1"], "timescale": pred["timescale"]}
    if arch == "lstm" and site == "cell" and "forget_bias" in options:
        b = float(options["forget_bias"])
        return {"rate": _log_sigmoid(b), "source": f"closed form at zero weights: ln σ(b_f), b_f = {b:g}"}
    if arch == "gru" and "update_bias" in options:
        b = float(options["update_bias"])
        return {"rate": _log_sigmoid(-b), "source": f"closed form at zero weights: ln(1 − σ(b_z)), b_z = {b:g}"}
    return None


def diagonal_jacobian(a, d: int) -> np.ndarray:
    """``∂h_T/∂h_(T−d) = diag(a^d)`` of ``h_t = a ⊙ h_(t−1) + b_t`` with a constant ``a [H]`` (its diagonal)."""
    return np.asarray(a, np.float64) ** int(d)


def diagonal_rate(a) -> float:
    """Per-step rate of ``‖diag(a)^d‖₂ = (max_c |a_c|)^d``: ``ln max_c |a_c|`` (per unit c: ``ln a_c``)."""
    return float(np.log(np.max(np.abs(np.asarray(a, np.float64)))))


def zero_state_variance_fraction(a, t) -> np.ndarray:
    """``Var(h_t)/Var(v) = 1 − a^(2(t+1))`` of ``h_t = a ⊙ h_(t−1) + √(1 − a²) ⊙ v_t`` from ``h_(−1) = 0``,
    ``v`` white in time; ``a [H]``, ``t`` steps (broadcast: ``t [..., 1]`` gives ``[..., H]``). Tends to 1 (the
    stationary variance) for every ``a``; over a window it is the mean of this over the window's steps."""
    a, t = np.asarray(a, np.float64), np.asarray(t, np.float64)
    return -np.expm1(2.0 * (t + 1.0) * np.log(a))
