"""Theory beside measurement: `seqgrad.gradflow.predictions` and its place in the main job's record."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest

from experiments import gradient_flow
from seqgrad.gradflow import predictions
from seqgrad.models import meanfield
from seqgrad.jobs.gradient_flow import entries as entries_lib
from seqgrad.jobs.gradient_flow import config as config_lib, inputs, measurements, programs, summaries


def test_closed_forms_of_the_gated_carries():
    lstm = predictions.predict("lstm", {"forget_bias": 5.0}, "cell", 1.0)
    assert lstm["rate"] == pytest.approx(math.log(1 / (1 + math.exp(-5.0))), rel=1e-12)
    gru = predictions.predict("gru", {"update_bias": -5.0}, "hidden", 1.0)
    assert gru["rate"] == pytest.approx(math.log(1 - 1 / (1 + math.exp(5.0))), rel=1e-12)
    assert predictions.predict("lstm", {"forget_bias": 1.0}, "hidden", 1.0) is None  # h is not the carry
    assert predictions.predict("lstm", {"forget_bias": 1.0}, "cell", 1.0, init="chrono") is None  # per-unit biases
    assert predictions.predict("transformer", {}, "hidden", 1.0) is None


def test_the_elman_rnn_gets_the_mean_field_exponent():
    out = predictions.predict("rnn", {"activation": "tanh", "recurrent_init": "orthogonal"}, "hidden", 3.0)
    assert out["rate"] == pytest.approx(meanfield.lyapunov(1.0, 3.0), rel=1e-12) and out["lyapunov"] == out["rate"]
    linear = predictions.predict("rnn", {"activation": "linear", "recurrent_init": "orthogonal"}, "hidden", 1.0)
    assert linear["rate"] == 0.0
    assert predictions.predict("rnn", {"activation": "relu", "recurrent_init": "identity"}, "hidden", 1.0) is None


def test_the_main_job_records_the_prediction_beside_the_measured_rate():
    """The tanh RNN at s = 1 (H = 32): the measured envelope rate lies within 0.05/step of ½·ln χ₁."""
    config = gradient_flow.get_config("rnn,lstm_cell_fb5")
    with config.unlocked():
        config.T, config.conditions.T, config.conditions.input_scale = 64, (64,), (1.0,)
        config.num_seeds, config.num_inputs, config.fixed_distances, config.lyapunov.T = 3, 2, (1, 8), 300
        config.burn_in, config.seed_experiment.lengths = 64, (10,)
    entries = {e.name: e for e in entries_lib.build_entries(config)}
    rnn, fb5 = entries["rnn"], entries["lstm_cell_fb5"]
    plan = config_lib.plan(config)
    record = summaries.entry_summary(rnn, config, measurements.measure(rnn, config, inputs.measurement_inputs(rnn, config),
                                                                 programs.measure_fn(rnn, config, jnp.float32)), plan)
    assert record.prediction["source"].startswith("mean field")
    assert abs(record.shape["rate"] - record.prediction["rate"]) < 0.05
    assert abs(record.lyapunov_top.median - record.prediction["lyapunov"]) < 0.05
    assert summaries.entry_summary(fb5, config, measurements.measure(fb5, config, inputs.measurement_inputs(fb5, config),
                                                              programs.measure_fn(fb5, config, jnp.float32)), plan).prediction["rate"] == pytest.approx(np.log(1 / (1 + np.exp(-5.0))))
