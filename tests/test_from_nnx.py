"""`models.from_nnx` and `models.from_step`: equal to `nnx.RNN`, exact Jacobians, Lyapunov exponents.

References: ``nnx.RNN(cell)`` for the outputs; an independent Python loop over
the cell (``new, _ = cell(carry, x_t)``; ``new ← new + δ_t`` at the site),
differentiated by `jax.jacrev`, for the state Jacobians; closed forms for a
linear ``nnx.SimpleCell`` (``h_t = x_t U + b + h_{t−1} W``: ``∂h_{T−1}/∂h_t =
(Wᵀ)^(T−1−t)``, exponents ``log|eig W|``) and for a leaky RNN with ``W = 0``
(``∂h_{T−1}/∂h_t = (1 − α)^(T−1−t) I``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from seqgrad import gradflow, models

B, T, D, H = 2, 6, 3, 4
CELLS = [nnx.LSTMCell, nnx.OptimizedLSTMCell, nnx.GRUCell, nnx.SimpleCell]


@pytest.mark.parametrize("cell_cls", CELLS)
def test_outputs_equal_nnx_rnn(cell_cls):
    x = jax.random.normal(jax.random.key(0), (B, T, D))
    cell = cell_cls(D, H, rngs=nnx.Rngs(1))
    model, variables = models.from_nnx(cell)
    np.testing.assert_allclose(jax.jit(model.apply)(variables, x), nnx.RNN(cell)(x), rtol=1e-6, atol=1e-6)


def unrolled_state_jacobians(cell, x, leaf):
    """``∂carry_{T−1}[leaf] / ∂δ_t`` by a Python loop over the NNX cell itself, ``[T, n, n]``."""

    def last(delta):
        carry = cell.initialize_carry((x.shape[-1],), rngs=nnx.Rngs(0))
        for t in range(x.shape[0]):
            carry, _ = cell(carry, x[t])
            leaves = list(jax.tree.leaves(carry))
            leaves[leaf] = leaves[leaf] + delta[t]
            carry = jax.tree.unflatten(jax.tree.structure(carry), leaves)
        return jax.tree.leaves(carry)[leaf]

    n = jax.tree.leaves(cell.initialize_carry((x.shape[-1],), rngs=nnx.Rngs(0)))[leaf].shape[0]
    return jnp.moveaxis(jax.jacrev(last)(jnp.zeros((x.shape[0], n), x.dtype)), 1, 0)


@pytest.mark.parametrize("cell_cls", [nnx.LSTMCell, nnx.OptimizedLSTMCell, nnx.GRUCell])
def test_state_jacobians_equal_an_unrolled_reference(cell_cls):
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(0), (T, D), jnp.float64)
        cell = cell_cls(D, H, rngs=nnx.Rngs(1), param_dtype=jnp.float64, dtype=jnp.float64)
        model, variables = models.from_nnx(cell)
        sites = {"hidden": -1} if cell_cls is nnx.GRUCell else {"hidden": 1, "cell": 0}
        for site, leaf in sites.items():
            J = gradflow.state_jacobians(model, variables, x, site=site)
            np.testing.assert_allclose(J, unrolled_state_jacobians(cell, x, leaf), rtol=1e-10, atol=1e-12)


def test_linear_simple_cell_jacobian_is_a_power_of_w_transpose_and_exponents_are_log_eigenvalues():
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(0), (T, D), jnp.float64)
        cell = nnx.SimpleCell(D, H, activation_fn=lambda v: v, rngs=nnx.Rngs(1), param_dtype=jnp.float64, dtype=jnp.float64)
        model, variables = models.from_nnx(cell)
        W = np.asarray(variables["params"]["cell"]["dense_h"]["kernel"])
        J = np.asarray(gradflow.state_jacobians(model, variables, x))
        for t in range(T):
            np.testing.assert_allclose(J[t], np.linalg.matrix_power(W.T, T - 1 - t), rtol=1e-12, atol=1e-12)
        long = jax.random.normal(jax.random.key(2), (400, D), jnp.float64)
        exponents = gradflow.lyapunov_exponents(model, variables, long, num_exponents=H)
        expected = np.sort(np.log(np.abs(np.linalg.eigvals(W))))[::-1]
        # Benettin's QR average converges as O(1/T) from a random frame: 400 steps give ~1e-2.
        np.testing.assert_allclose(exponents, expected, atol=2e-2)


def test_nnx_update_puts_trained_values_back():
    cell = nnx.GRUCell(D, H, rngs=nnx.Rngs(1))
    model, variables = models.from_nnx(cell)
    x = jax.random.normal(jax.random.key(0), (B, T, D))
    trained = jax.tree.map(lambda p: 0.5 * p, variables)
    nnx.update(cell, trained["params"]["cell"])
    np.testing.assert_allclose(nnx.RNN(cell)(x), model.apply(trained, x), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(cell.dense_h.kernel[...], trained["params"]["cell"]["dense_h"]["kernel"])


def test_from_step_leaky_rnn_with_zero_recurrent_weight():
    alpha = 0.25

    def step(p, h, x_t):
        h = (1 - alpha) * h + alpha * jnp.tanh(h @ p["W"] + x_t @ p["U"])
        return h, h

    with jax.enable_x64(True):
        params = {"W": jnp.zeros((H, H)), "U": jax.random.normal(jax.random.key(1), (D, H))}
        model, variables = models.from_step(step, params, jnp.zeros(H))
        x = jax.random.normal(jax.random.key(0), (T, D))
        J = gradflow.state_jacobians(model, variables, x)
        for t in range(T):
            np.testing.assert_allclose(J[t], (1 - alpha) ** (T - 1 - t) * np.eye(H), rtol=1e-12, atol=1e-15)


def test_from_step_output_that_is_not_a_carry_leaf_and_a_two_leaf_carry():
    """Carry ``(c, h)`` with ``c_t = ½ c_{t−1} + x_t``, ``h_t = c_t``; output ``2 h_t + 1``."""

    def step(p, carry, x_t):
        c = 0.5 * carry[0] + x_t @ p
        return (c, c), 2 * c + 1

    params = jnp.eye(D, H)
    model, variables = models.from_step(step, params, (jnp.zeros(H), jnp.zeros(H)))
    assert model.sites == ("cell", "hidden", "state") and model.site_size("state") == 2 * H
    x = jax.random.normal(jax.random.key(0), (B, T, D))
    c = jax.lax.scan(lambda c, x_t: (0.5 * c + x_t @ params,) * 2, jnp.zeros((B, H)), jnp.swapaxes(x, 0, 1))[1]
    np.testing.assert_allclose(model.apply(variables, x), 2 * jnp.swapaxes(c, 0, 1) + 1, rtol=1e-6)
    J = gradflow.state_jacobians(model, variables, x[0], site="cell")
    np.testing.assert_allclose(J[0], 0.5 ** (T - 1) * np.eye(H), rtol=1e-6)


def test_bad_inputs_are_one_line_errors():
    with pytest.raises(ValueError, match="takes an nnx.RNNCellBase") as err:
        models.from_nnx(nnx.Linear(2, 3, rngs=nnx.Rngs(0)))
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match=r"pytree of vectors \[n\]; got leaf shapes \[\(2, 3\)\]"):
        models.from_step(lambda p, c, x: (c, c), {}, jnp.zeros((2, 3)))


def test_profile_spectra_and_training_gradients_run_on_nnx_variables():
    """The profile's Frobenius norms are those of the exact Jacobians; a weight gradient reaches every parameter."""
    cell = nnx.OptimizedLSTMCell(D, H, rngs=nnx.Rngs(1))
    model, variables = models.from_nnx(cell)
    x = jax.random.normal(jax.random.key(0), (T, D))
    J = gradflow.state_jacobians(model, variables, x)
    profile = gradflow.jacobian_profile(model, variables, x, num_probes=H, distances=(0, 3))
    np.testing.assert_allclose(profile["frobenius"], np.linalg.norm(J[::-1], axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(profile["singular_values"][1], np.linalg.svd(J[T - 1 - 3], compute_uv=False), rtol=1e-5)
    grads = jax.grad(lambda v: jnp.sum(model.apply(v, x[None], truncate=2)[0, -1]))(variables)
    assert jax.tree.structure(grads) == jax.tree.structure(variables)
    assert all(np.any(g != 0) for g in jax.tree.leaves(grads["params"]["cell"]["dense_h"]))


class Net(nnx.Module):
    """Input projection -> nnx.RNN(nnx.GRUCell) -> linear read-out: ``[B, T, D] -> [B, T, O]``."""

    def __init__(self, rngs, dtype=jnp.float32):
        kw = dict(param_dtype=dtype, dtype=dtype)
        self.proj = nnx.Linear(D, 5, rngs=rngs, **kw)
        self.rnn = nnx.RNN(nnx.GRUCell(5, H, rngs=rngs, **kw))
        self.out = nnx.Linear(H, 2, rngs=rngs, **kw)

    def __call__(self, x):
        return self.out(self.rnn(self.proj(x)))


def test_whole_model_output_jacobian_equals_an_unrolled_reference():
    with jax.enable_x64(True):
        net = Net(nnx.Rngs(0), jnp.float64)
        x = jax.random.normal(jax.random.key(1), (T, D), jnp.float64)
        model, variables = models.from_nnx(net, cell="rnn.cell")
        np.testing.assert_allclose(model.apply(variables, x[None]), net(x[None]), rtol=1e-12)

        def last(delta):  # the reference: a Python loop over the cell, δ_t added after every step
            u, h = net.proj(x), jnp.zeros(H)
            for t in range(T):
                h = net.rnn.cell(h, u[t])[0] + delta[t]
            return net.out(h)

        expected = jnp.moveaxis(jax.jacrev(last)(jnp.zeros((T, H))), 1, 0)  # [T, O, H]
        J = gradflow.state_jacobians(model, variables, x)
        assert J.shape == (T, 2, H)
        np.testing.assert_allclose(J, expected, rtol=1e-10, atol=1e-13)
        cut = jax.jacrev(lambda d: model.apply(variables, x[None], d[None], truncate=2)[0, -1])(jnp.zeros((T, H)))
        np.testing.assert_allclose(jnp.moveaxis(cut, 1, 0)[T - 2 :], expected[T - 2 :], rtol=1e-10, atol=1e-13)
        np.testing.assert_array_equal(cut[:, : T - 2], 0.0)  # the carry entering step T − 2 is cut

        # Lyapunov exponents: the named cell's recurrence along the inputs it receives, proj(x).
        long = jax.random.normal(jax.random.key(2), (60, D), jnp.float64)
        cell_model, cell_variables = models.from_nnx(net.rnn.cell)
        np.testing.assert_allclose(gradflow.lyapunov_exponents(model, variables, long, num_exponents=2),
                                   gradflow.lyapunov_exponents(cell_model, cell_variables, net.proj(long),
                                                               num_exponents=2), rtol=1e-10)
        profile = gradflow.jacobian_profile(model, variables, x, num_probes=H, distances=(1,))
        np.testing.assert_allclose(profile["frobenius"], np.linalg.norm(J[::-1], axis=(1, 2)), rtol=1e-10)


def test_whole_model_bad_cell_path_is_one_line():
    net = Net(nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"cell='rnn.cel' names no attribute of Net"):
        models.from_nnx(net, cell="rnn.cel")
    with pytest.raises(ValueError, match=r"cell='proj' is a Linear; it must name an nnx.RNNCellBase"):
        models.from_nnx(net, cell="proj")


def test_nnx_name_builds_the_flax_cell_and_equals_nnx_rnn():
    model = models.create("nnx:flax.nnx:GRUCell", hidden_size=H)
    x = jax.random.normal(jax.random.key(0), (B, T, D))
    variables = jax.jit(model.init)(jax.random.key(1), x)
    cell = nnx.GRUCell(D, H, rngs=nnx.Rngs(5))
    nnx.update(cell, variables["params"]["cell"])
    np.testing.assert_allclose(jax.jit(model.apply)(variables, x), nnx.RNN(cell)(x), rtol=1e-6, atol=1e-6)
    assert models.info("nnx:flax.nnx:GRUCell").options["unroll"] == 1
    assert "keep_rngs" in models.info("nnx:flax.nnx:LSTMCell").options


@pytest.mark.parametrize("name", ["nnx:tests.nnx_cells:Leaky", "tests.nnx_cells:Leaky", "nnx:tests.nnx_cells:make_leaky"])
def test_a_users_nnx_cell_by_import_string_with_its_option(name):
    """``W = 0``: ``∂h_{T−1}/∂h_t = (1 − leak)^(T−1−t) I``."""
    model = models.create(name, hidden_size=H, leak=0.25)
    x = jax.random.normal(jax.random.key(0), (T, D))
    variables = model.init(jax.random.key(1), x[None])
    variables["params"]["cell"]["w"]["kernel"] = jnp.zeros((H, H))
    J = gradflow.state_jacobians(model, variables, x)
    for t in range(T):
        np.testing.assert_allclose(J[t], 0.75 ** (T - 1 - t) * np.eye(H), rtol=1e-6)
    with pytest.raises(ValueError, match="unknown option 'leek'"):
        models.create(name, hidden_size=H, leek=0.25)


@pytest.mark.parametrize(
    "name, message",
    [
        ("nnx:flax.nnx:Linear", "expected a Flax NNX cell built as Linear\\(in_features=..., hidden_features=..."),
        ("nnx:flax.nnx:NoCell", "module 'flax.nnx' has no attribute 'NoCell'"),
        ("nnx:no_such_module_for_seqgrad:Cell", "cannot import 'no_such_module_for_seqgrad'"),
        ("nnx:flax.nnx", "reads 'package.module:Name'"),
        ("eqx:flax.nnx:GRUCell", "expected an equinox cell built as GRUCell\\(input_size=..., hidden_size=..."),
    ],
)
def test_bad_nnx_and_eqx_strings_are_one_line_errors(name, message):
    with pytest.raises(ValueError, match=message) as err:
        models.info(name)
    assert repr(name) in str(err.value) and "\n" not in str(err.value)


def test_nnx_lstm_with_seqgrads_lstm_weights_has_seqgrads_jacobians_and_exponents():
    """seqgrad's ``lstm`` fuses the gates as ``(i, f, o, c̃)``; copied gate by gate into ``nnx.LSTMCell``
    (forget bias 0, flax's default), the two models are the same function of the same state."""
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(0), (40, D), jnp.float64)
        lstm = models.create("lstm", hidden_size=H, forget_bias=0.0)
        params = lstm.init(jax.random.key(1), x[None])["params"]["layer_0"]
        U, W, b = params["input_kernel"], params["recurrent_kernel"], params["bias"]
        cell = nnx.LSTMCell(D, H, rngs=nnx.Rngs(0), param_dtype=jnp.float64, dtype=jnp.float64)
        gates = {"i": 0, "f": 1, "o": 2, "g": 3}
        nnx.update(cell, {
            **{f"i{'f_' if g == 'f' else g}": {"kernel": U[:, k * H:(k + 1) * H]} for g, k in gates.items()},
            **{f"h{g}": {"kernel": W[:, k * H:(k + 1) * H], "bias": b[k * H:(k + 1) * H]} for g, k in gates.items()},
        })
        model, variables = models.from_nnx(cell)
        np.testing.assert_allclose(model.apply(variables, x[None]), lstm.apply({"params": {"layer_0": params}}, x[None]),
                                   rtol=1e-12, atol=1e-14)
        reference = {"params": {"layer_0": params}}
        np.testing.assert_allclose(gradflow.state_jacobians(model, variables, x),
                                   gradflow.state_jacobians(lstm, reference, x), rtol=1e-9, atol=1e-20)
        np.testing.assert_allclose(gradflow.lyapunov_exponents(model, variables, x, num_exponents=3),
                                   gradflow.lyapunov_exponents(lstm, reference, x, num_exponents=3), rtol=1e-9)
