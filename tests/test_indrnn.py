"""`indrnn`: a float64 NumPy loop of Li et al. (2018) and the closed-form diagonal state Jacobian."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models
from tests.zoo_helpers import assert_diagonal_product_jacobian, assert_matches_reference

NUMPY_PHI = {
    "relu": (lambda v: np.maximum(v, 0), lambda v: (v > 0).astype(float)),
    "tanh": (np.tanh, lambda v: 1 - np.tanh(v) ** 2),
    "linear": (lambda v: v, np.ones_like),
}


def numpy_indrnn(x, p, activation, bound=0.0, return_pre=False):
    """h_t = φ(x_t U + u ⊙ h_{t−1} + b), sequentially; optionally the pre-activations z_t."""
    u = np.clip(p["recurrent_weight"], -bound, bound) if bound else p["recurrent_weight"]
    h, hs, zs = np.zeros((x.shape[0], u.shape[0])), [], []
    for t in range(x.shape[1]):
        z = x[:, t] @ p["input_kernel"] + u * h + p["bias"]
        h = NUMPY_PHI[activation][0](z)
        hs.append(h)
        zs.append(z)
    return (np.stack(hs, 1), np.stack(zs, 1)) if return_pre else np.stack(hs, 1)


@pytest.mark.parametrize("activation, num_layers, bound", [("relu", 1, 0.0), ("tanh", 2, 0.0), ("linear", 1, 0.3)])
def test_equals_numpy_loop(activation, num_layers, bound):
    assert_matches_reference("indrnn", numpy_indrnn, num_layers=num_layers, activation=activation, max_recurrent=bound,
                             reference_options=dict(activation=activation, bound=bound))


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_state_jacobian_is_the_product_of_u_times_phi_prime(activation):
    """∂h_{T−1}/∂h_t = diag(∏_{s=t+1..T−1} u ⊙ φ′(z_s)): no cross-unit terms."""

    def factors(x, p):
        _, z = numpy_indrnn(x, p, activation, return_pre=True)
        return p["recurrent_weight"] * NUMPY_PHI[activation][1](z[0])

    assert_diagonal_product_jacobian("indrnn", factors, T=12, activation=activation)


def test_memory_initialisation_keeps_half_after_memory_steps():
    model = models.create("indrnn", hidden_size=256, memory=100)
    u = np.asarray(jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, 2, 3)))["params"]["layer_0"]["recurrent_weight"])
    assert u.min() >= 0.5 ** (1 / 100) and u.max() <= 1.0 and u.std() > 0


def test_bad_memory_is_rejected():
    with pytest.raises(ValueError, match="memory=-1 is invalid"):
        models.create("indrnn", hidden_size=4, memory=-1)
