"""Spectral summaries, underflow detection, decay fits and seed statistics."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models
from seqgrad.gradflow import decay, seeds, spectra, state_jacobians


def test_summaries_match_numpy_svd_ordered_by_distance():
    J = np.asarray(jax.random.normal(jax.random.key(0), (5, 4, 3)), np.float64)
    with jax.enable_x64(True):
        s = {k: np.asarray(v) for k, v in spectra.summarize(jnp.asarray(J)).items()}
    for d in range(5):
        sv = np.linalg.svd(J[4 - d], compute_uv=False)
        np.testing.assert_allclose(s["singular_values"][d], sv, rtol=1e-12)
        np.testing.assert_allclose(s["spectral_norm"][d], np.linalg.norm(J[4 - d], 2), rtol=1e-12)
        np.testing.assert_allclose(s["frobenius_norm"][d], np.linalg.norm(J[4 - d]), rtol=1e-12)
        np.testing.assert_allclose(s["condition_number"][d], sv[0] / sv[-1], rtol=1e-10)


def test_a_singular_jacobian_has_infinite_condition_number():
    J = jnp.asarray([[[1.0, 0.0], [0.0, 0.0]], [[2.0, 0.0], [0.0, 1.0]]])
    s = spectra.summarize(J)
    np.testing.assert_array_equal(np.asarray(s["condition_number"]), [2.0, np.inf])  # by distance: J[1], J[0]


def _zero_weight_lstm_cell_norms(length, dtype):
    model = models.create("lstm", hidden_size=3, forget_bias=0.0)
    x = jnp.ones((length, 2), dtype)
    params = model.init(jax.random.key(0), x[None])
    layer = params["params"]["layer_0"]
    layer["input_kernel"] = jnp.zeros_like(layer["input_kernel"])
    layer["recurrent_kernel"] = jnp.zeros_like(layer["recurrent_kernel"])
    return np.asarray(spectra.summarize(state_jacobians(model, params, x, site="cell"))["spectral_norm"])


def test_float32_underflow_is_reported_and_float64_measures_it():
    """∂c_{T-1}/∂c_t = 0.5^d I: 7.9e-31 at d = 100, below float32's smallest normal (1.2e-38) from d = 127."""
    norms = _zero_weight_lstm_cell_norms(200, jnp.float32)
    np.testing.assert_allclose(norms[100], 0.5**100, rtol=1e-5)
    zeros = np.nonzero(norms == 0)[0]
    assert 126 <= zeros[0] <= 150 and np.all(norms[zeros[0]:] == 0)
    status = spectra.zero_status(norms, np.float32)
    assert set(status[zeros]) == {spectra.UNDERFLOW}
    assert set(status[: zeros[0]]) == {spectra.MEASURED}
    with jax.enable_x64(True):
        exact = _zero_weight_lstm_cell_norms(200, jnp.float64)
    np.testing.assert_allclose(exact, 0.5 ** np.arange(200), rtol=1e-12)
    assert set(spectra.zero_status(exact, np.float64)) == {spectra.MEASURED}


def test_a_zero_reached_from_large_norms_is_exact_not_underflow():
    norms = np.array([1.0, 0.5, 0.3, 0.0, 0.0])
    assert list(spectra.zero_status(norms, np.float32)) == ["measured"] * 3 + ["exact_zero"] * 2
    tiny = np.array([1.0, 1e-20, 1e-30, 0.0])
    assert spectra.zero_status(tiny, np.float32)[-1] == spectra.UNDERFLOW
    assert spectra.zero_status(tiny, np.float64)[-1] == spectra.EXACT_ZERO  # far above float64's floor


@pytest.mark.parametrize("factor", [0.5, 0.97, 1.0, 1.3])
def test_decay_fit_recovers_a_geometric_rate(factor):
    norms = 3.0 * factor ** np.arange(60.0)
    fit = decay.fit_decay_rate(norms)
    np.testing.assert_allclose(fit["rate"], np.log(factor), atol=1e-12)
    np.testing.assert_allclose(fit["factor"], factor, atol=1e-12)
    assert fit["r2"] == pytest.approx(1.0) and fit["points"] == 59


def test_decay_fit_skips_zeros_and_the_identity_at_distance_zero():
    norms = np.concatenate([[1.0], 0.5 ** np.arange(1.0, 10.0), np.zeros(5)])
    fit = decay.fit_decay_rate(norms)
    np.testing.assert_allclose(fit["rate"], np.log(0.5), atol=1e-12)
    assert fit["points"] == 9
    assert np.isnan(decay.fit_decay_rate(np.array([1.0, 0.0, 0.0]))["rate"])


def test_memory_horizon_closed_form():
    # 0.5^d: last d with 0.5^d >= 1e-3·0.5 is d - 1 = 9 (0.5^9 = 2e-3, 0.5^10 = 9.8e-4); the first below is 11.
    assert decay.memory_horizon(0.5 ** np.arange(40.0), 1e-3) == 10
    assert decay.first_drop_horizon(0.5 ** np.arange(40.0), 1e-3) == 11
    assert decay.memory_horizon(np.ones(40), 1e-3) is None and decay.first_drop_horizon(np.ones(40), 1e-3) is None
    assert decay.memory_horizon(np.array([1.0, 0.2, 0.0]), 1e-3) == 1  # a zero is below any threshold
    assert decay.first_drop_horizon(np.array([1.0, 0.2, 0.0]), 1e-3) == 2
    for horizon in (decay.memory_horizon, decay.first_drop_horizon):
        with pytest.raises(ValueError, match="threshold=1.5"):
            horizon(np.ones(3), 1.5)


def test_median_and_spread_over_seeds():
    values = np.array([[1.0, 10.0], [2.0, np.nan], [3.0, 30.0], [4.0, 40.0], [5.0, 50.0]])
    stats = seeds.median_spread(values)
    np.testing.assert_allclose(stats["median"], [3.0, 35.0])
    np.testing.assert_allclose(stats["q25"], [2.0, 25.0])
    np.testing.assert_allclose(stats["q75"], [4.0, 42.5])


def test_seed_keys_are_distinct_and_validated():
    keys = seeds.keys(0, 4)
    draws = np.asarray(jax.vmap(lambda k: jax.random.normal(k, ()))(keys))
    assert len(set(draws.tolist())) == 4
    with pytest.raises(ValueError, match="num_seeds=0"):
        seeds.keys(0, 0)
