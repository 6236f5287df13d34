"""`models.from_equinox`: outputs and state Jacobians equal a Python loop over the equinox cell.

The reference calls the cell itself, ``state = cell(x_t, state)``, adds ``δ_t`` to
the perturbed leaf, and is differentiated by `jax.jacrev` (float64: agreement to
rounding). equinox is an optional extra (``pip install -e '.[equinox]'``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import gradflow, models
from seqgrad.models import equinox_cell

eqx = pytest.importorskip("equinox")

B, T, D, H = 2, 6, 3, 4


def unrolled(cell, x, leaf, delta=None):
    """``(outputs h_t [T, H], state leaf at T−1)`` of a Python loop over the cell, ``δ_t`` added at ``leaf``."""
    zeros = jnp.zeros(H, x.dtype)
    state = (zeros, zeros) if isinstance(cell, eqx.nn.LSTMCell) else zeros
    outputs = []
    for t in range(x.shape[0]):
        state = cell(x[t], state)
        if delta is not None:
            leaves = jax.tree.leaves(state)
            leaves[leaf] = leaves[leaf] + delta[t]
            state = jax.tree.unflatten(jax.tree.structure(state), leaves)
        outputs.append(jax.tree.leaves(state)[0])
    return jnp.stack(outputs), jax.tree.leaves(state)[leaf]


@pytest.mark.parametrize("cell_cls", [eqx.nn.GRUCell, eqx.nn.LSTMCell])
def test_outputs_and_state_jacobians_equal_an_unrolled_reference(cell_cls):
    with jax.enable_x64(True):
        cell = cell_cls(D, H, dtype=jnp.float64, key=jax.random.key(1))
        model, variables = models.from_equinox(cell)
        x = jax.random.normal(jax.random.key(0), (B, T, D), jnp.float64)
        expected = jnp.stack([unrolled(cell, x[b], 0)[0] for b in range(B)])
        np.testing.assert_allclose(model.apply(variables, x), expected, rtol=1e-12)
        sites = {"hidden": 0} if cell_cls is eqx.nn.GRUCell else {"hidden": 0, "cell": 1}
        for site, leaf in sites.items():
            reference = jax.jacrev(lambda d: unrolled(cell, x[0], leaf, d)[1])(jnp.zeros((T, H)))
            J = gradflow.state_jacobians(model, variables, x[0], site=site)
            np.testing.assert_allclose(J, jnp.moveaxis(reference, 1, 0), rtol=1e-10, atol=1e-13)


def test_trained_values_go_back_into_the_cell():
    cell = eqx.nn.GRUCell(D, H, key=jax.random.key(1))
    model, variables = models.from_equinox(cell)
    trained = jax.tree.map(lambda p: 0.5 * p, variables)
    assert sorted(variables["params"]["cell"]) == ["bias", "bias_n", "weight_hh", "weight_ih"]
    back = equinox_cell.updated(cell, trained["params"]["cell"])
    x = jax.random.normal(jax.random.key(0), (1, T, D))
    np.testing.assert_allclose(model.apply(trained, x)[0], unrolled(back, x[0], 0)[0], rtol=1e-5, atol=1e-7)


def test_not_an_equinox_cell_is_one_line():
    with pytest.raises(ValueError, match="from_equinox takes an equinox cell called cell\\(x_t, state\\); got int"):
        models.from_equinox(3)


def test_eqx_name_builds_the_cell_once_the_input_width_is_known():
    model = models.create("eqx:equinox.nn:LSTMCell", hidden_size=H)
    assert model.sites == ("hidden", "cell", "state")
    x = jax.random.normal(jax.random.key(0), (1, T, D))
    variables = jax.jit(model.init)(jax.random.key(1), x)
    cell = equinox_cell.updated(eqx.nn.LSTMCell(D, H, key=jax.random.key(2)), variables["params"]["cell"])
    np.testing.assert_allclose(model.apply(variables, x)[0], unrolled(cell, x[0], 0)[0], rtol=1e-5, atol=1e-7)
    assert models.info("eqx:equinox.nn:LSTMCell").recurrent_params == ("weight_hh",)
