"""The seed's experiment: the recurrent weight's gradient and its decomposition by distance d from the loss.

``G(d)`` is the part of ``∂L/∂W`` (``L = ‖h_{T-1} - y‖²``) that flows back through
exactly d steps. For a linear rnn (row vectors, ``h_t = h_{t-1} W + u_t``) it is
``G(d) = h_{T-2-d}ᵀ · g (Wᵀ)^d`` with ``g = 2 (h_{T-1} - y)`` and ``h_{-1} = 0``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models
from seqgrad.gradflow import attribution
from tests.conftest import SMALL_OPTIONS

T, D, H = 8, 3, 4


def setup(name, dtype=jnp.float64, **extra):
    model = models.create(name, hidden_size=H, **{**SMALL_OPTIONS.get(name, {}), **extra})
    x = jax.random.normal(jax.random.key(0), (T, D), dtype)
    params = jax.jit(model.init)(jax.random.key(1), x[None])
    target = jax.random.normal(jax.random.key(2), (H,), dtype)
    return model, params, x, target, models.info(name).recurrent_params


def test_linear_rnn_contributions_match_the_closed_form():
    with jax.enable_x64(True):
        model, params, x, y, names = setup("rnn", activation="linear", recurrent_init="normal", recurrent_scale=1.1)
        G = attribution.gradient_by_distance(model, params, x, y, names)
        (path,) = G
        G = np.asarray(G[path])
        W = np.asarray(params["params"]["layer_0"]["recurrent_kernel"])
        h = np.asarray(jax.jit(model.apply)(params, x[None]))[0]
    assert G.shape == (T, H, H)
    g = 2.0 * (h[-1] - np.asarray(y))
    for d in range(T):
        previous = h[T - 2 - d] if T - 2 - d >= 0 else np.zeros(H)
        expected = np.outer(previous, g @ np.linalg.matrix_power(W.T, d))
        np.testing.assert_allclose(G[d], expected, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
def test_contributions_sum_to_the_full_gradient(name):
    with jax.enable_x64(True):
        model, params, x, y, names = setup(name)
        G = attribution.gradient_by_distance(model, params, x, y, names, batch_size=3)
        full = attribution.recurrent_gradient(model, params, x, y, names)  # no truncation at all
        norms = np.asarray(attribution.contribution_norms(G))
    assert set(G) == set(full)
    for path in full:
        np.testing.assert_allclose(np.asarray(G[path]).sum(0), np.asarray(full[path]), rtol=1e-10, atol=1e-12)
        assert np.abs(np.asarray(G[path])[-3:]).max() > 0  # early steps do contribute
    assert norms.shape == (T,) and np.all(norms >= 0)


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru", "mingru", "lru"])
def test_one_pass_decomposition_equals_the_truncated_bptt_definition(name):
    """G(d) from one backward pass against differences of truncated gradients (float64).

    The reference resolves G(d) to eps·‖∂L/∂W‖ (a difference of two gradients), hence the atol."""
    with jax.enable_x64(True):
        model, params, x, y, names = setup(name)
        assert attribution.state_site(model) is not None

        @jax.jit
        def measure(params, x, y):
            return (attribution.gradient_by_distance(model, params, x, y, names, batch_size=3),
                    attribution.truncated_gradient_by_distance(model, params, x, y, names),
                    attribution.distance_norms(model, params, x, y, names, batch_size=2),
                    attribution.snippet_experiment(model, params, x, y, names, (3, T)),
                    attribution.gradient_norm_vs_length(model, params, x, y, names, (3, T)))

        G, reference, norms, (seed_norms, seed_G), by_length = measure(params, x, y)
        reference_norms = np.asarray(attribution.contribution_norms(reference))
    assert set(G) == set(reference)
    for path, expected in reference.items():
        scale = np.abs(np.asarray(expected)).max()
        np.testing.assert_allclose(G[path], expected, rtol=1e-9, atol=1e-13 * scale)
        np.testing.assert_allclose(seed_G[path], expected, rtol=1e-9, atol=1e-13 * scale)
    np.testing.assert_allclose(norms, reference_norms, rtol=1e-9, atol=1e-13 * reference_norms.max())
    np.testing.assert_allclose(seed_norms, by_length, rtol=1e-12)


def test_models_without_a_whole_state_site_use_the_definition():
    """Two layers (the lower layer's weights have no site), or a step that depends on t."""
    assert attribution.state_site(models.create("rnn", hidden_size=H, num_layers=2)) is None
    assert attribution.state_site(models.create("skip_rnn", hidden_size=H, skip=3)) is None
    with jax.enable_x64(True):
        model, params, x, y, names = setup("rnn", num_layers=2)
        G = jax.jit(lambda p: attribution.gradient_by_distance(model, p, x, y, names))(params)
        full = attribution.recurrent_gradient(model, params, x, y, names)
    for path in full:
        np.testing.assert_allclose(np.asarray(G[path]).sum(0), full[path], rtol=1e-10, atol=1e-12)


def test_norm_vs_length_equals_separate_runs_on_prefixes():
    """Causality: the loss on step T'-1 of x is the loss on the prefix x[:T']."""
    model, params, x, y, names = setup("lstm", jnp.float32)
    lengths = (2, 5, T)
    got = np.asarray(attribution.gradient_norm_vs_length(model, params, x, y, names, lengths))
    for n, value in zip(lengths, got):
        separate = attribution.gradient_norm(attribution.recurrent_gradient(model, params, x[:n], y, names))
        np.testing.assert_allclose(value, float(separate), rtol=1e-5)


def test_the_combined_snippet_experiment_equals_the_separate_functions():
    model, params, x, y, names = setup("gru", jnp.float32)
    lengths = (3, T)
    norms, G = attribution.snippet_experiment(model, params, x, y, names, lengths, batch_size=4)
    np.testing.assert_allclose(norms, attribution.gradient_norm_vs_length(model, params, x, y, names, lengths), rtol=1e-5)
    separate = attribution.gradient_by_distance(model, params, x, y, names)
    for path in separate:
        np.testing.assert_allclose(G[path], separate[path], rtol=1e-5, atol=1e-7)


def test_the_seed_loss_is_the_squared_error_of_the_last_output():
    model, params, x, y, _ = setup("gru", jnp.float32)
    h = model.apply(params, x[None])[0]
    np.testing.assert_allclose(attribution.last_step_loss(model, params, x, y), np.sum((h[-1] - y) ** 2), rtol=1e-6)


def test_models_without_recurrent_weights_are_named():
    model, params, *_ = setup("transformer", jnp.float32)
    assert models.info("transformer").recurrent_params == ()
    with pytest.raises(ValueError, match="no parameter leaf named"):
        attribution.recurrent_leaves(params, ("recurrent_kernel",))
    assert "no recurrent weight" in attribution.NOT_APPLICABLE
