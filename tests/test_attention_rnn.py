"""`attention_rnn`: an independent NumPy read-out, the O(1) attention path, and exact truncation.

Reference written from the equations, float64:
``s_t = tanh(s_{t−1} W + x_t U + b)``, ``h_t = s_t + Σ_heads softmax_{j≤t}(q_t k_jᵀ/√d) v_j W_o``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models


def numpy_causal_attention(s_q, s_kv, p):
    """Multi-head causal attention without biases; kernels as flax stores them.

    s_q, s_kv: [B, T, H]; query/key/value kernels [H, n, d]; out kernel [n, d, H].
    """
    q = np.einsum("bth,hnd->btnd", s_q, p["query"]["kernel"])
    k = np.einsum("bth,hnd->btnd", s_kv, p["key"]["kernel"])
    v = np.einsum("bth,hnd->btnd", s_kv, p["value"]["kernel"])
    T, d = q.shape[1], q.shape[-1]
    logits = np.einsum("bqnd,bknd->bnqk", q, k) / np.sqrt(d)
    logits = np.where(np.tril(np.ones((T, T), bool)), logits, -np.inf)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    read = np.einsum("bnqk,bknd->bqnd", weights, v)
    return np.einsum("btnd,ndh->bth", read, p["out"]["kernel"])


def numpy_attention_rnn_layer(x, p):
    batch, T, _ = x.shape
    s = np.zeros((batch, p["bias"].shape[0]))
    states = []
    for t in range(T):
        s = np.tanh(s @ p["recurrent_kernel"] + x[:, t] @ p["input_kernel"] + p["bias"])
        states.append(s)
    s = np.stack(states, 1)
    return s + numpy_causal_attention(s, s, p["attention"])


def random_params(model, x, seed=0, scale=0.5):
    """Parameters of ``model``'s structure drawn i.i.d. N(0, scale²) in NumPy: any weights will do for a reference."""
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(model.init, jax.random.key(0), x)
    return jax.tree.map(lambda s: jnp.asarray(scale * rng.standard_normal(s.shape), s.dtype), shapes)


@pytest.mark.parametrize("num_heads, num_layers", [(3, 1), (2, 2)])
def test_matches_numpy_reference(num_heads, num_layers):
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(0), (2, 9, 4), jnp.float64)
        model = models.create(
            "attention_rnn", hidden_size=6, num_heads=num_heads, num_layers=num_layers, recurrent_scale=0.9
        )
        params = random_params(model, x)
        tree = jax.tree.map(np.asarray, params["params"])
        expected = np.asarray(x)
        for index in range(num_layers):
            expected = numpy_attention_rnn_layer(expected, tree[f"layer_{index}"])
        np.testing.assert_allclose(jax.jit(model.apply)(params, x), expected, rtol=1e-11, atol=1e-12)


def state_jacobians(model, params, x, truncate=None):
    """``∂h_{T−1}/∂δ_t`` for every t: ``[H, T, H]``."""
    H = model.hidden_size

    def last_output(delta):
        return model.apply(params, x, delta, return_probe=True, truncate=truncate)[1][0, -1]

    return np.asarray(jax.jit(jax.jacrev(last_output))(jnp.zeros((1, x.shape[1], H))))[:, 0]


def test_attention_path_survives_where_the_recurrence_has_vanished():
    """With W = 0 the recurrence forgets in one step: ∂s_{T−1}/∂s_t = 0 for t < T−1.

    Removing the read-out (W_o = 0, so h = s) shows exactly that; with the read-out
    every past state still reaches h_{T−1} through one attention hop.
    """
    T, H = 50, 4
    x = jax.random.normal(jax.random.key(0), (1, T, 3))
    model = models.create("attention_rnn", hidden_size=H, num_heads=2)
    params = random_params(model, x)
    layer = params["params"]["layer_0"]
    layer["recurrent_kernel"] = jnp.zeros((H, H))

    with_attention = state_jacobians(model, params, x)
    norms = np.sqrt((with_attention**2).sum(axis=(0, 2)))
    assert np.all(norms > 0), norms

    out = layer["attention"]["out"]["kernel"]
    layer["attention"]["out"]["kernel"] = jnp.zeros_like(out)
    recurrence_only = state_jacobians(model, params, x)
    assert np.all(recurrence_only[:, :-1] == 0.0)
    np.testing.assert_array_equal(recurrence_only[:, -1], np.eye(H))


def test_truncate_is_exact_through_both_paths():
    T, H, k = 12, 4, 3
    x = jax.random.normal(jax.random.key(0), (1, T, 3))
    model = models.create("attention_rnn", hidden_size=H, num_heads=2)
    params = random_params(model, x)
    full = state_jacobians(model, params, x)
    cut = state_jacobians(model, params, x, truncate=k)
    assert np.all(full.any(axis=(0, 2)))
    # Earlier states reach h_{T−1} neither through the scan nor through keys and values ...
    assert np.all(cut[:, : T - k] == 0.0)
    # ... and the last k steps are untouched: every path from δ_t, t ≥ T−k, stays in the window.
    np.testing.assert_allclose(cut[:, T - k :], full[:, T - k :], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"hidden_size": 6, "num_heads": 4}, "num_heads=4 is invalid.*hidden_size=6"),
        ({"hidden_size": 6, "num_heads": 0}, "num_heads=0 is invalid"),
        ({"hidden_size": 6, "recurrent_init": "xavier"}, "recurrent_init='xavier' is invalid.*orthogonal"),
    ],
)
def test_bad_values_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        models.create("attention_rnn", **options)
