"""`gradflow.diagnose` and its plots on a closed form: ``h_t = h_{t−1} W + x_t U`` with ``W = ½ Q``
(Q orthogonal) has ``‖J(d)‖₂ = 2^(−d)`` with every singular value equal, decay rate ``ln ½``, memory
horizon 10 (the last d with ``2^(−d) ≥ 10⁻³ · 2^(−1)``) and every Lyapunov exponent ``ln ½``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from seqgrad import gradflow, models
from seqgrad.report import diagnosis

T, D, H = 30, 3, 4


def test_diagnose_a_scaled_orthogonal_linear_recurrence(tmp_path):
    with jax.enable_x64(True):
        params = {"W": 0.5 * jax.random.orthogonal(jax.random.key(0), H, dtype=jnp.float64),
                  "U": jax.random.normal(jax.random.key(1), (D, H), jnp.float64)}
        model, variables = models.from_step(lambda p, h, x_t: (h @ p["W"] + x_t @ p["U"],) * 2, params, jnp.zeros(H))
        x = jax.random.normal(jax.random.key(2), (T, D), jnp.float64)
        d = gradflow.diagnose(model, variables, x, num_exponents=2, name="linear")
    np.testing.assert_allclose(d.jacobian_norm_raw, 0.5 ** np.arange(T), rtol=1e-12)
    np.testing.assert_allclose(d.singular_values, np.tile(0.5 ** np.arange(T)[:, None], (1, H)), rtol=1e-12)
    assert d.regime == "vanishing" and d.memory_horizon == 10
    np.testing.assert_allclose(d.decay_rate, np.log(0.5), rtol=1e-10)
    np.testing.assert_allclose(d.lyapunov_exponents, [np.log(0.5)] * 2, rtol=1e-10)
    paths = diagnosis.plot({"linear": d}, str(tmp_path / "linear"))
    assert all((tmp_path / f"linear_{kind}.png").stat().st_size > 0 for kind in ("norms", "spectra"))
    assert paths == {"norms": str(tmp_path / "linear_norms.png"), "spectra": str(tmp_path / "linear_spectra.png")}


def test_diagnose_after_a_burn_in_reads_the_window_and_a_T_independent_regime():
    """The same closed form with a burn-in of 10 steps: the window's 20 distances, the same 2^(−d), the regime from
    the rate ln ½ (T-independent), and the ratio rule kept beside it."""
    with jax.enable_x64(True):
        params = {"W": 0.5 * jax.random.orthogonal(jax.random.key(0), H, dtype=jnp.float64),
                  "U": jax.random.normal(jax.random.key(1), (D, H), jnp.float64)}
        model, variables = models.from_step(lambda p, h, x_t: (h @ p["W"] + x_t @ p["U"],) * 2, params, jnp.zeros(H))
        x = jax.random.normal(jax.random.key(2), (T, D), jnp.float64)
        d = gradflow.diagnose(model, variables, x, num_exponents=None, burn_in=10)
    np.testing.assert_allclose(d.jacobian_norm_raw, 0.5 ** np.arange(T - 10), rtol=1e-12)
    assert d.regime == "vanishing"
    np.testing.assert_allclose(d.shape["rate"], np.log(0.5), rtol=1e-10)
    assert d.regime_by_ratio == "vanishing" and d.burn_in == 10
