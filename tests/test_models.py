"""Contract tests every registered architecture must pass.

Shapes, finiteness, causality (∂h_t/∂x_s = 0 for s > t, and ∂h_t/∂x_t ≠ 0, by
`jax.jacrev`), jit, float64, and the perturbation contract used by the
gradient-flow diagnostics (a zero perturbation changes nothing; the probe at the
last step moves one-for-one with the last perturbation for recurrent models).
"""

from __future__ import annotations

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models
from seqgrad.models.page_claims import PAGE_CLAIMS
from tests.conftest import SMALL_OPTIONS

B, T, D, H = 2, 7, 3, 6
NAMES = models.available()


def build(name, hidden_size=H, **extra):
    return models.create(name, hidden_size=hidden_size, **{**SMALL_OPTIONS.get(name, {}), **extra})


def init(model, x, seed=0):
    # Jitted: eager `init` compiles every random initialiser separately.
    return jax.jit(model.init)(jax.random.key(seed), x)


@functools.cache
def built(name):
    """(model, params) for ``name`` at the test shapes, built once per test session."""
    model = build(name)
    return model, init(model, jnp.zeros((B, T, D)))


@pytest.mark.parametrize("name", NAMES)
def test_shape_finite_and_jit_matches_eager(name):
    x = jax.random.normal(jax.random.key(1), (B, T, D))
    model, params = built(name)
    h = jax.jit(model.apply)(params, x)
    assert h.shape == (B, T, H)
    assert h.dtype == jnp.float32
    assert bool(jnp.all(jnp.isfinite(h)))
    np.testing.assert_allclose(h, model.apply(params, x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_causal(name):
    x = jax.random.normal(jax.random.key(2), (1, T, D))
    model, params = built(name)
    jac = jax.jit(jax.jacrev(lambda x: model.apply(params, x)[0]))(x)[:, :, 0]  # [T, H, T, D]
    norms = np.asarray(jnp.sqrt(jnp.sum(jac**2, axis=(1, 3))))  # [t, s]
    future = np.triu(norms, k=1)
    assert np.all(future == 0.0), f"h_t depends on x_s for s > t:\n{norms}"
    assert np.all(np.diag(norms) > 0.0), f"h_t ignores x_t:\n{norms}"


@pytest.mark.parametrize("name", NAMES)
def test_float64(name):
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(4), (B, T, D), dtype=jnp.float64)
        model = build(name)
        params = init(model, x)
        assert all(p.dtype in (jnp.float64, jnp.complex128) for p in jax.tree.leaves(params))
        h = jax.jit(model.apply)(params, x)
        assert h.dtype == jnp.float64
        assert bool(jnp.all(jnp.isfinite(h)))


@pytest.mark.parametrize("name", NAMES)
def test_zero_perturbation_is_a_no_op(name):
    x = jax.random.normal(jax.random.key(5), (B, T, D))
    model, params = built(name)
    apply = jax.jit(model.apply, static_argnames=("site", "return_probe"))
    for site in model.sites:
        width = model.site_size(site) if hasattr(model, "site_size") else H  # LSTM "state": [h, c], 2H
        h, probe = apply(params, x, jnp.zeros((B, T, width)), site=site, return_probe=True)
        np.testing.assert_allclose(h, apply(params, x), rtol=1e-6, atol=1e-7)
        assert probe.shape == (B, T, width)


@pytest.mark.parametrize("name", NAMES)
def test_perturbation_reaches_the_probe(name):
    """∂probe_{T-1}/∂δ_{T-1} is I for recurrent sites and non-zero for every model."""
    x = jax.random.normal(jax.random.key(6), (1, T, D))
    model, params = built(name)

    def last_probe(delta):
        _, probe = model.apply(params, x, delta, return_probe=True)
        return probe[0, -1]

    jac = jax.jit(jax.jacrev(last_probe))(jnp.zeros((1, T, H)))[:, 0]  # [H, T, H]
    assert float(jnp.abs(jac[:, -1]).max()) > 0
    if models.info(name).probe_is_state:
        np.testing.assert_allclose(jac[:, -1], np.eye(H), atol=1e-6)


def test_every_registered_module_is_a_flax_module_with_metadata():
    assert set(SMALL_OPTIONS) <= set(NAMES), sorted(set(SMALL_OPTIONS) - set(NAMES))
    for name in NAMES:
        arch = models.info(name)
        assert issubclass(arch.module, nn.Module)
        assert arch.path_length.startswith("O(")
        assert arch.parallel in ("no", "partially", "yes")
        assert arch.paper and arch.module.__doc__


def test_every_built_in_architecture_has_its_row_of_page_claims():
    built_in = {name for name in NAMES if models.info(name).module.__module__.startswith("seqgrad.models.")}
    assert built_in == set(PAGE_CLAIMS)
    for name in built_in:
        assert dataclasses.asdict(PAGE_CLAIMS[name]) == {
            key: getattr(models.info(name), key) for key in ("path_length", "parallel", "paper", "claim")
        }


def test_register_takes_the_texts_of_a_row_from_the_table_only():
    with pytest.raises(ValueError, match="page_claims.PAGE_CLAIMS: register takes no claim"):
        models.register("gru", claim="another claim")
    with pytest.raises(TypeError, match="needs parallel, paper"):
        models.register("not_in_the_table", path_length="O(T)")


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: models.create("lstmm", hidden_size=4), "valid choices"),
        (lambda: models.create("rnn", hidden_size=4, activation="sigmoid"), "'tanh', 'relu', 'linear'"),
        (lambda: models.create("rnn", hidden_size=4, bogus=1), "valid options"),
        (lambda: models.create("rnn", hidden_size=0), "hidden_size=0"),
        (lambda: models.create("rnn", hidden_size=4, num_layers=-1), "num_layers=-1"),
        (lambda: models.create("rnn", hidden_size=4, recurrent_init="xavier"), "orthogonal"),
    ],
)
def test_bad_input_names_the_value_and_the_choices(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        call()
    assert "invalid" in str(err.value) or "unknown" in str(err.value)


def test_bad_site_is_rejected():
    model, params = built("rnn")
    x = jnp.zeros((1, T, D))
    with pytest.raises(ValueError, match="valid sites"):
        model.apply(params, x, site="cell")
