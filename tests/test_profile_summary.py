"""`gradflow.profile_summary`: every profile summary under one set of thresholds, against its closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from experiments import gradient_flow
from seqgrad.gradflow import decay, profile_summary
from seqgrad.jobs.gradient_flow import config as config_lib

T = 128
D = np.arange(T, dtype=np.float64)


def test_the_job_thresholds_are_the_config_values():
    config = gradient_flow.get_config()
    th = config_lib.thresholds(config)
    assert (th.horizon, th.timescale, th.block) == (config.horizon_threshold, config.regime.timescale,
                                                     config.regime.block)
    assert th == profile_summary.Thresholds()  # the defaults are the main job's


def test_exponential_profiles_give_their_rate_horizon_and_regime():
    rates = np.array([-0.05, -0.001, 0.02])
    norms = np.exp(rates[:, None] * D)  # [3, T]
    th = profile_summary.Thresholds()
    per = profile_summary.per_sequence(norms, th)
    np.testing.assert_allclose(per["rate"], rates, atol=1e-12)
    np.testing.assert_allclose(per["envelope_rate"], rates, atol=1e-9)
    # ‖J(d)‖/‖J(1)‖ = e^{r(d−1)} stays ≥ 1e-3 up to d = 1 + ln(1e3)/|r|: 139 for r = −0.05 (past T: censored at T)
    assert list(per["memory_horizon"]) == [T, T, T]
    steep = profile_summary.per_sequence(np.exp(-0.1 * D)[None], th)["memory_horizon"][0]
    assert steep == decay.memory_horizon(np.exp(-0.1 * D), th.horizon) == 1 + int(np.log(1e3) / 0.1)
    regimes = [profile_summary.of_profile(n, th)["regime"] for n in norms]
    assert regimes == ["vanishing", "preserved", "exploding"]  # |r| against 1/τ = 0.005


def test_summarise_reads_the_median_profile_and_every_module():
    th = profile_summary.Thresholds()
    norms = np.stack([np.exp(-0.01 * D), np.exp(-0.03 * D), np.exp(-0.02 * D)])
    modules = np.stack([np.exp(-0.1 * D), np.ones(T)], axis=1)  # [T, G=2]
    per, profile, whole, blocks = profile_summary.summarise(norms, th, modules=modules)
    np.testing.assert_allclose(profile["median"], np.exp(-0.02 * D))
    assert whole["decay_rate"] == pytest.approx(-0.02, abs=1e-12) and whole["regime"] == "vanishing"
    assert [b["regime"] for b in blocks] == ["vanishing", "preserved"]
    assert blocks[0]["decay_rate"] == pytest.approx(-0.1, abs=1e-12) and blocks[1]["module"] == 1
    assert profile_summary.summarise(norms, th)[3] is None
