"""`dilated_conv`: the receptive field is exact, and the stack equals a NumPy loop over taps.

``receptive_field = 1 + 2(k − 1)(2^L − 1)`` (two convs per block, dilations 1, 2, …, 2^(L−1)):
h_{T−1} depends on exactly the last R inputs, and on nothing before them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models


def numpy_causal_conv(z, p, dilation):
    """``out_t = Σ_i z_{t − (k−1−i)·d} K_i + c`` with zeros before t = 0; kernel K: [k, H, H]."""
    K = p["kernel"]
    k, T = K.shape[0], z.shape[1]
    out = np.zeros(z.shape[:2] + (K.shape[2],)) + p["bias"]
    for i in range(k):
        lag = (k - 1 - i) * dilation
        out[:, lag:] += z[:, : T - lag] @ K[i]
    return out


def numpy_dilated_conv(x, p, num_blocks, phi):
    z = x @ p["input_projection"]["kernel"] + p["input_projection"]["bias"]
    for l in range(num_blocks):
        b = p[f"block_{l}"]
        y = numpy_causal_conv(phi(numpy_causal_conv(z, b["conv_1"], 2**l)), b["conv_2"], 2**l)
        z = z + y
    return z


def random_params(model, x, seed=0, scale=0.5):
    """Parameters of ``model``'s structure drawn i.i.d. N(0, scale²) in NumPy: any weights will do for a reference."""
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(model.init, jax.random.key(0), x)
    return jax.tree.map(lambda s: jnp.asarray(scale * rng.standard_normal(s.shape), s.dtype), shapes)


@pytest.mark.parametrize("kernel_size, num_blocks", [(2, 2), (3, 2), (2, 3)])
def test_receptive_field_is_exact(kernel_size, num_blocks):
    model = models.create("dilated_conv", hidden_size=8, kernel_size=kernel_size, num_blocks=num_blocks, activation="tanh")
    R = 1 + 2 * (kernel_size - 1) * (2**num_blocks - 1)
    assert model.receptive_field == R
    T = R + 6
    x = jax.random.normal(jax.random.key(0), (1, T, 3))
    params = random_params(model, x)
    jac = jax.jit(jax.jacrev(lambda x: model.apply(params, x)[0, -1]))(x)  # [H, 1, T, D]
    norms = np.sqrt(np.sum(np.asarray(jac) ** 2, axis=(0, 1, 3)))  # [T]
    assert np.all(norms[T - R :] > 0), norms
    assert np.all(norms[: T - R] == 0.0), norms


def test_default_receptive_field():
    assert models.create("dilated_conv", hidden_size=4).receptive_field == 511  # k = 2, L = 8


@pytest.mark.parametrize("activation, phi", [("relu", lambda v: np.maximum(v, 0.0)), ("tanh", np.tanh)])
def test_matches_numpy_reference(activation, phi):
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(0), (2, 11, 3), jnp.float64)
        model = models.create("dilated_conv", hidden_size=5, kernel_size=3, num_blocks=2, activation=activation)
        params = random_params(model, x)
        expected = numpy_dilated_conv(np.asarray(x), jax.tree.map(np.asarray, params["params"]), 2, phi)
        np.testing.assert_allclose(jax.jit(model.apply)(params, x), expected, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"kernel_size": 0}, "kernel_size=0 is invalid"),
        ({"num_blocks": -1}, "num_blocks=-1 is invalid"),
        ({"activation": "sigmoid"}, r"activation='sigmoid' is invalid.*\['relu', 'tanh', 'gelu'\]"),
    ],
)
def test_bad_values_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        models.create("dilated_conv", hidden_size=4, **options)


def test_truncate_is_rejected():
    model = models.create("dilated_conv", hidden_size=4, num_blocks=1)
    with pytest.raises(ValueError, match="truncate=3 is invalid.*no recurrence"):
        model.init(jax.random.key(0), jnp.zeros((1, 3, 2)), truncate=3)
