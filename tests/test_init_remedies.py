"""Initialisation remedies as model options: the critical Elman RNN and chrono LSTM / GRU."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models
from seqgrad.gradflow import state_jacobians
from seqgrad.models import meanfield


def _init(name, hidden_size=8, input_dim=3, seed=0, **options):
    model = models.create(name, hidden_size=hidden_size, **options)
    return model, model.init(jax.random.key(seed), jnp.zeros((1, 5, input_dim)))


def test_critical_rnn_draws_w_at_the_critical_gain():
    """W ~ N(0, (scale·g*)²/H): the sample std of 512² entries is within 1 % of scale·g*/√H."""
    H = 512
    for s, scale in ((1.0, 1.0), (0.5, 0.9)):
        _, params = _init("rnn", H, recurrent_init="critical", critical_input_scale=s, recurrent_scale=scale)
        W = np.asarray(params["params"]["layer_0"]["recurrent_kernel"])
        expected = scale * meanfield.critical_gain(s) / math.sqrt(H)
        assert np.std(W) == pytest.approx(expected, rel=0.01)
        assert abs(np.mean(W)) < 3 * expected / H
    _, params = _init("rnn", H, recurrent_init="critical", activation="relu")
    assert np.std(params["params"]["layer_0"]["recurrent_kernel"]) == pytest.approx(math.sqrt(2 / H), rel=0.01)


@pytest.mark.parametrize("value", [-1.0, float("inf"), True, "1"])
def test_critical_input_scale_is_validated(value):
    with pytest.raises(ValueError, match="critical_input_scale=.* is invalid"):
        models.create("rnn", hidden_size=4, recurrent_init="critical", critical_input_scale=value)


def test_chrono_lstm_biases():
    """b_f = log u with u in [1, T_max − 1], b_i = −b_f, the output and candidate blocks 0."""
    H, t_max = 256, 100
    _, params = _init("lstm", H, chrono=t_max)
    b = np.asarray(params["params"]["layer_0"]["bias"])
    b_i, b_f, b_o, b_c = b[:H], b[H:2 * H], b[2 * H:3 * H], b[3 * H:]
    np.testing.assert_array_equal(b_i, -b_f)
    assert b_f.min() >= 0 and b_f.max() <= math.log(t_max - 1) + 1e-6
    assert b_f.max() > math.log(0.9 * t_max)  # 256 draws reach the top decile of u
    assert not b_o.any() and not b_c.any()


def test_chrono_gru_keeps_the_state_for_one_plus_u_steps():
    """All weights zero: ∂h_T/∂h_t = diag(1 − σ(b_z))^(T−t), with 1 − σ(b_z) = u/(1+u), u = e^(−b_z)
    in [1, T_max − 1]: the seqgrad convention (z the share of the candidate) flips chrono's sign."""
    H, t_max, T = 16, 50, 6
    model, params = _init("gru", H, chrono=t_max, fused=False)
    b_z = params["params"]["layer_0"]["bias"][:H]
    u = np.exp(-np.asarray(b_z))
    assert u.min() >= 1 - 1e-6 and u.max() <= t_max - 1 + 1e-4
    zeroed = jax.tree_util.tree_map_with_path(
        lambda path, v: v if path[-1].key == "bias" else jnp.zeros_like(v), params
    )
    J = state_jacobians(model, zeroed, jnp.zeros((T, 3)))
    keep = u / (1 + u)
    for t in range(T):
        np.testing.assert_allclose(np.asarray(J[t]), np.diag(keep ** (T - 1 - t)), rtol=1e-5, atol=1e-7)
    # update_bias without chrono is unchanged: b_z = update_bias.
    _, plain = _init("gru", H, update_bias=-1.0)
    np.testing.assert_array_equal(plain["params"]["layer_0"]["bias"][:H], -1.0)


@pytest.mark.parametrize("name", ["lstm", "gru"])
@pytest.mark.parametrize("value", [-1, 2.5, True])
def test_chrono_is_validated(name, value):
    with pytest.raises(ValueError, match=f"chrono={value!r} is invalid"):
        models.create(name, hidden_size=4, chrono=value)
