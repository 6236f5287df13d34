"""`minlstm`: the associative scan against a float64 NumPy loop of Feng et al. (2024), and diag(∏ f′)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models
from tests.zoo_helpers import assert_diagonal_product_jacobian, assert_matches_reference, sigmoid


def numpy_minlstm(x, p, return_forget=False):
    H = p["bias"].shape[0] // 3
    h, hs, fs = np.zeros((x.shape[0], H)), [], []
    for t in range(x.shape[1]):
        z = x[:, t] @ p["gate_kernel"] + p["bias"]
        f, i, candidate = sigmoid(z[:, :H]), sigmoid(z[:, H : 2 * H]), z[:, 2 * H :]
        h = f / (f + i) * h + i / (f + i) * candidate
        hs.append(h)
        fs.append(f / (f + i))
    return (np.stack(hs, 1), np.stack(fs, 1)) if return_forget else np.stack(hs, 1)


@pytest.mark.parametrize("num_layers", [1, 2])
def test_associative_scan_equals_sequential_loop(num_layers):
    assert_matches_reference("minlstm", numpy_minlstm, num_layers=num_layers)


def test_state_jacobian_is_the_product_of_normalised_forget_gates():
    assert_diagonal_product_jacobian("minlstm", lambda x, p: numpy_minlstm(x, p, return_forget=True)[1][0], T=20)


def test_forget_bias_sets_the_initial_bias():
    model = models.create("minlstm", hidden_size=3, forget_bias=2.5)
    b = np.asarray(jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, 2, 2)))["params"]["layer_0"]["bias"])
    np.testing.assert_array_equal(b, [2.5] * 3 + [0.0] * 6)
