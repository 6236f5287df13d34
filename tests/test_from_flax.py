"""`models.from_flax` and import-string architectures: equal to `flax.linen.RNN`, exact Jacobians.

A wrapped cell keeps its parameter tree (``params["params"]["cell"]``), so the
same parameters run through ``nn.RNN(cell)`` and through seqgrad's recurrence;
``SimpleCell`` with a linear activation is the row-vector linear RNN
``h_t = x_t U + b + h_{t−1} W``, whose state Jacobian is ``(Wᵀ)^(T−t)``.
"""

from __future__ import annotations

import textwrap

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import gradflow, models

B, T, D, H = 2, 6, 3, 4


@pytest.mark.parametrize("cell_cls", [nn.LSTMCell, nn.OptimizedLSTMCell, nn.GRUCell, nn.MGUCell])
def test_outputs_and_parameters_equal_flax_rnn(cell_cls):
    x = jax.random.normal(jax.random.key(0), (B, T, D))
    cell = cell_cls(features=H)
    params = jax.jit(nn.RNN(cell).init)(jax.random.key(1), x)
    model = models.from_flax(cell)
    assert jax.tree.structure(jax.eval_shape(model.init, jax.random.key(1), x)) == jax.tree.structure(params)
    expected = jax.jit(nn.RNN(cell).apply)(params, x)
    np.testing.assert_allclose(jax.jit(model.apply)(params, x), expected, rtol=1e-6, atol=1e-6)


def test_linear_simple_cell_state_jacobian_is_a_power_of_w_transpose():
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(0), (T, D), jnp.float64)
        model = models.from_flax(nn.SimpleCell(features=H, activation_fn=lambda v: v, param_dtype=jnp.float64))
        params = jax.jit(model.init)(jax.random.key(1), x[None])
        W = np.asarray(params["params"]["cell"]["h"]["kernel"])
        J = np.asarray(gradflow.state_jacobians(model, params, x))
        for t in range(T):
            np.testing.assert_allclose(J[t], np.linalg.matrix_power(W.T, T - 1 - t), rtol=1e-12, atol=1e-12)


def test_lstm_sites_cell_hidden_and_whole_state():
    """Zero weights: c_t = ½ c_{t−1} + …, so ∂c_{T−1}/∂c_t = 0.5^(T−1−t) I; the whole state is [c, h]."""
    x = jax.random.normal(jax.random.key(0), (1, T, D))
    model = models.create("flax:LSTMCell", hidden_size=H)
    assert model.sites == ("cell", "hidden", "state") and model.site_size("state") == 2 * H
    params = jax.tree.map(jnp.zeros_like, jax.jit(model.init)(jax.random.key(1), x))

    def last(delta, site):
        return model.apply(params, x, delta, site=site, return_probe=True)[1][0, -1]

    jacobian = jax.jit(jax.jacrev(last), static_argnums=1)
    cell = jacobian(jnp.zeros((1, T, H)), "cell")[:, 0]  # [H, T, H]
    for t in range(T):
        np.testing.assert_allclose(cell[:, t], 0.5 ** (T - 1 - t) * np.eye(H), rtol=1e-6)
    state = jacobian(jnp.zeros((1, T, 2 * H)), "state")[:, 0]  # [2H, T, 2H]
    np.testing.assert_allclose(state[:, -1], np.eye(2 * H), atol=1e-7)
    np.testing.assert_allclose(state[:H, 0, :H], cell[:, 0], rtol=1e-6)  # the c block of the whole state


def test_truncate_lyapunov_and_input_jacobians_run_through_the_wrapped_cell():
    x = jax.random.normal(jax.random.key(0), (30, D))
    model = models.create("flax:GRUCell", hidden_size=H)
    params = jax.jit(model.init)(jax.random.key(1), x[None])
    exponents = gradflow.lyapunov_exponents(model, params, x, num_exponents=2)
    assert exponents.shape == (2,) and np.all(np.isfinite(exponents))
    assert gradflow.input_jacobians(model, params, x).shape == (30, H, D)
    loss = lambda p, k: jnp.sum(model.apply(p, x[None], truncate=k)[0, -1])  # noqa: E731
    full, cut = jax.jit(jax.grad(loss), static_argnums=1)(params, None), jax.jit(jax.grad(loss))(params, 1)
    assert not np.allclose(full["params"]["cell"]["hn"]["kernel"], cut["params"]["cell"]["hn"]["kernel"])


def test_info_and_options_of_a_flax_name():
    arch = models.info("flax:OptimizedLSTMCell")
    assert "features" not in arch.options and {"hidden_size", "unroll", "gate_fn"} <= set(arch.options)
    with pytest.raises(ValueError, match="unknown option 'bogus'"):
        models.create("flax:GRUCell", hidden_size=H, bogus=1)


MODULE = """
import flax.linen as nn
import jax.numpy as jnp

class LeakyCell(nn.RNNCellBase):
    '''h_t = 0.5 h_{t-1} + tanh(x_t U); output 2 h_t (not a carry leaf).'''
    features: int

    @nn.compact
    def __call__(self, carry, x):
        h = 0.5 * carry + jnp.tanh(nn.Dense(self.features, use_bias=False, name="u")(x))
        return h, 2.0 * h

    def initialize_carry(self, rng, input_shape):
        return jnp.zeros(input_shape[:-1] + (self.features,))

    @property
    def num_feature_axes(self):
        return 1

NOT_A_CELL = 3
"""


def test_import_string_names_a_user_cell(tmp_path, monkeypatch):
    (tmp_path / "user_cells_for_seqgrad.py").write_text(textwrap.dedent(MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    name = "user_cells_for_seqgrad:LeakyCell"
    model = models.create(name, hidden_size=H)
    x = jax.random.normal(jax.random.key(0), (B, T, D))
    params = jax.jit(model.init)(jax.random.key(1), x)
    np.testing.assert_allclose(jax.jit(model.apply)(params, x), jax.jit(nn.RNN(model.cell).apply)(params, x), rtol=1e-6)
    J = gradflow.state_jacobians(model, params, x[0])
    np.testing.assert_allclose(J[0], 0.5 ** (T - 1) * np.eye(H), rtol=1e-6)
    assert models.info(name).path_length == "O(T)"
    with pytest.raises(ValueError, match=r"'user_cells_for_seqgrad:NOT_A_CELL' is 3: expected"):
        models.create("user_cells_for_seqgrad:NOT_A_CELL", hidden_size=H)


@pytest.mark.parametrize(
    "name, message",
    [
        ("no_such_module_for_seqgrad:Cell", "cannot import 'no_such_module_for_seqgrad'"),
        ("flax:NoSuchCell", "has no attribute 'NoSuchCell'"),
        ("flax:RNN", "without a hidden_size field"),
        ("seqgrad.models:", "reads 'package.module:Name'"),
    ],
)
def test_bad_import_strings_are_one_line_errors(name, message):
    with pytest.raises(ValueError, match=message) as err:
        models.info(name)
    assert repr(name) in str(err.value) and "\n" not in str(err.value)


def test_a_registered_class_by_import_string_keeps_its_record():
    assert models.info("seqgrad.models.lstm:LSTM") is models.info("lstm")
    model = models.create("seqgrad.models.lstm:LSTM", hidden_size=H, forget_bias=2.0)
    assert model.forget_bias == 2.0
