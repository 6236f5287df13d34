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
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

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
