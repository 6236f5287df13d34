"""`transformer`: an independent float64 NumPy decoder, causality, and the positional encoding.

Reference written from the equations (Vaswani et al. 2017, pre-LN as in Xiong et al. 2020):
``z = x W_in + b_in + PE``; per block ``z += MHA(LN z)``, ``z += W₂ gelu(W₁ LN z + b₁) + b₂``;
``h = LN z``; LayerNorm with ε = 1e-6 (flax's default), gelu in its tanh form.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models
from seqgrad.models.transformer import sinusoidal_encoding


def layer_norm(z, p, eps=1e-6):
    mean = z.mean(-1, keepdims=True)
    var = ((z - mean) ** 2).mean(-1, keepdims=True)
    return (z - mean) / np.sqrt(var + eps) * p["scale"] + p["bias"]


def gelu(v):
    return 0.5 * v * (1 + np.tanh(np.sqrt(2 / np.pi) * (v + 0.044715 * v**3)))


def causal_mha(z, p):
    """Multi-head causal self-attention with biases; kernels [H, n, d], out kernel [n, d, H]."""
    q, k, v = (np.einsum("bth,hnd->btnd", z, p[n]["kernel"]) + p[n]["bias"] for n in ("query", "key", "value"))
    T, d = z.shape[1], q.shape[-1]
    logits = np.einsum("bqnd,bknd->bnqk", q, k) / np.sqrt(d)
    logits = np.where(np.tril(np.ones((T, T), bool)), logits, -np.inf)
    w = np.exp(logits - logits.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    return np.einsum("bnqk,bknd,ndh->bqh", w, v, p["out"]["kernel"]) + p["out"]["bias"]


def numpy_transformer(x, p, num_layers, base=10000.0):
    T, H = x.shape[1], p["input_projection"]["bias"].shape[0]
    i = np.arange(H)
    angle = np.arange(T)[:, None] / base ** (2 * (i // 2) / H)
    pe = np.where(i % 2 == 0, np.sin(angle), np.cos(angle))
    z = x @ p["input_projection"]["kernel"] + p["input_projection"]["bias"] + pe
    for l in range(num_layers):
        b = p[f"block_{l}"]
        z = z + causal_mha(layer_norm(z, b["attention_norm"]), b["attention"])
        y = gelu(layer_norm(z, b["mlp_norm"]) @ b["mlp_in"]["kernel"] + b["mlp_in"]["bias"])
        z = z + y @ b["mlp_out"]["kernel"] + b["mlp_out"]["bias"]
    return layer_norm(z, p["final_norm"])


def random_params(model, x, seed=0, scale=0.5):
    """Parameters of ``model``'s structure drawn i.i.d. N(0, scale²) in NumPy: any weights will do for a reference."""
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(model.init, jax.random.key(0), x)
    return jax.tree.map(lambda s: jnp.asarray(scale * rng.standard_normal(s.shape), s.dtype), shapes)


@pytest.mark.parametrize("num_layers, num_heads", [(1, 2), (2, 3)])
def test_matches_numpy_reference(num_layers, num_heads):
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(0), (2, 7, 3), jnp.float64)
        model = models.create("transformer", hidden_size=6, num_layers=num_layers, num_heads=num_heads, mlp_ratio=2)
        params = random_params(model, x)
        expected = numpy_transformer(np.asarray(x), jax.tree.map(np.asarray, params["params"]), num_layers)
        np.testing.assert_allclose(jax.jit(model.apply)(params, x), expected, rtol=1e-10, atol=1e-11)


def test_future_inputs_do_not_move_past_outputs():
    x = jax.random.normal(jax.random.key(0), (1, 12, 3))
    model = models.create("transformer", hidden_size=8, num_heads=2)
    params = random_params(model, x)
    apply = jax.jit(model.apply)
    changed = x.at[:, 8:].add(5.0)
    h, h_changed = apply(params, x), apply(params, changed)
    np.testing.assert_array_equal(h[:, :8], h_changed[:, :8])
    assert np.all(np.abs(h[:, 8:] - h_changed[:, 8:]).max(-1) > 1e-3)


def test_perturbation_enters_the_residual_stream():
    """δ joins the residual stream before the first block: a constant δ is a shift of the input bias."""
    x = jax.random.normal(jax.random.key(0), (1, 5, 3))
    model = models.create("transformer", hidden_size=4, num_heads=2)
    params = random_params(model, x)
    apply = jax.jit(model.apply)
    perturbed = apply(params, x, 0.7 * jnp.ones((1, 5, 4)))
    moved = jax.tree.map(lambda p: p, params)
    moved["params"]["input_projection"]["bias"] = params["params"]["input_projection"]["bias"] + 0.7
    np.testing.assert_allclose(perturbed, apply(moved, x), rtol=1e-6, atol=1e-6)


def test_sinusoidal_encoding_closed_form():
    pe = np.asarray(sinusoidal_encoding(4, 6, 10000.0, jnp.float32))
    t = np.arange(4.0)
    np.testing.assert_allclose(pe[:, 0], np.sin(t), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(pe[:, 1], np.cos(t), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(pe[:, 4], np.sin(t / 10000.0 ** (4 / 6)), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"hidden_size": 6, "num_heads": 4}, "num_heads=4 is invalid.*hidden_size=6"),
        ({"hidden_size": 6, "num_heads": 2, "mlp_ratio": 0}, "mlp_ratio=0 is invalid"),
        ({"hidden_size": 6, "num_heads": 2, "positional_base": 1.0}, "positional_base=1.0 is invalid"),
    ],
)
def test_bad_values_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        models.create("transformer", **options)


def test_truncate_is_rejected():
    model = models.create("transformer", hidden_size=4, num_heads=2)
    with pytest.raises(ValueError, match="truncate=2 is invalid.*no recurrence"):
        model.init(jax.random.key(0), jnp.zeros((1, 3, 2)), truncate=2)
