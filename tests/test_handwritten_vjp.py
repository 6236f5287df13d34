"""`seqgrad.models.handwritten_vjp`: for every registered model with a hand-written VJP, every option value,
outputs and all parameter and input gradients equal JAX's autodiff of the generic step.

Registry-driven: a model has a hand-written VJP iff it takes the option ``fused``;
its enumerated options come from ``models.info(name).choices``, the gate biases
and ``num_layers``/``unroll`` from `VALUES`. Each non-default value is tested
once (plus one two-layer, unroll-3 case), in float64, against the same model with
``fused=False`` (reverse mode of `recurrence.scan` over the same step). Tolerance
1e-10: both are exact, only the order of float64 roundings differs. The loss
puts a random cotangent on every step, so every term of the backward recursion
is exercised, and the parameters are shifted so that no gate sits at ½.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models
from seqgrad.models import handwritten_vjp

B, T, D, H = 2, 5, 3, 4
# Values of the non-enumerated options every model that has them is tested at.
VALUES = {"forget_bias": (1.0, 0.0, -1.0), "update_bias": (0.0, -1.0, 1.0), "num_layers": (1, 2), "unroll": (1, 3)}
WITH_VJP = [name for name in models.available() if "fused" in models.info(name).options]


def variants(name):
    """The default, each non-default option value alone, and two layers with unroll 3."""
    arch = models.info(name)
    defaults = {**arch.options, "num_layers": 1}
    values = {**arch.choices, **{key: v for key, v in VALUES.items() if key in arch.options}}
    cases = [{}]
    cases += [{key: value} for key, vals in values.items() for value in vals if value != defaults.get(key)]
    return cases + [{"num_layers": 2, "unroll": 3}]


CASES = [(name, options) for name in WITH_VJP for options in variants(name)]


def test_the_registry_lists_the_models_with_a_handwritten_vjp():
    assert {"rnn", "lstm", "gru"} <= set(WITH_VJP)
    for name in WITH_VJP:
        assert handwritten_vjp.uses_handwritten_vjp(models.create(name, hidden_size=H))
        assert not handwritten_vjp.uses_handwritten_vjp(models.create(name, hidden_size=H, fused=False))
        assert handwritten_vjp.implementation(models.create(name, hidden_size=H)) == "hand-written VJP"
    assert handwritten_vjp.implementation(models.create("residual_rnn", hidden_size=H)) == "autodiff"


@pytest.mark.parametrize("name, options", CASES, ids=[f"{n}-{o}" for n, o in CASES])
def test_outputs_and_all_gradients_equal_autodiff_of_the_generic_step(name, options):
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        fast = models.create(name, hidden_size=H, **options)
        generic = models.create(name, hidden_size=H, fused=False, **options)
        x = jnp.asarray(rng.standard_normal((B, T, D)))
        params = fast.init(jax.random.key(0), x)
        params = jax.tree.map(lambda p: p + 0.3 * jnp.asarray(rng.standard_normal(p.shape)), params)
        cotangent = jnp.asarray(rng.standard_normal((B, T, H)))

        def value_and_grads(model):
            loss = lambda p, x: jnp.sum(jnp.sin(model.apply(p, x)) * cotangent)  # noqa: E731
            return jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))(params, x)

        np.testing.assert_allclose(fast.apply(params, x), generic.apply(params, x), rtol=1e-10, atol=1e-12)
        (value, grads), (ref_value, ref_grads) = value_and_grads(fast), value_and_grads(generic)
        np.testing.assert_allclose(value, ref_value, rtol=1e-10)
        got, want = jax.tree.leaves(grads), jax.tree.leaves(ref_grads)
        assert len(got) == len(jax.tree.leaves(params)) + 1  # every parameter and the input x
        for g, w in zip(got, want):
            assert float(jnp.max(jnp.abs(w))) > 1e-6  # not trivially zero
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


def test_dispatch_rule():
    """One rule: hand-written only for plain calls (no perturbation, truncation, Lyapunov; site hidden)."""
    model = models.create("lstm", hidden_size=H)
    zeros = jnp.zeros((1, T, H))
    assert handwritten_vjp.selected(model, None, None, "hidden")
    assert not handwritten_vjp.selected(model, zeros, None, "hidden")
    assert not handwritten_vjp.selected(model, None, 3, "hidden")
    assert not handwritten_vjp.selected(model, None, None, "cell")
    assert not handwritten_vjp.selected(models.create("lstm", hidden_size=H, fused=False), None, None, "hidden")


def test_forward_mode_through_every_layer_of_a_perturbed_stack():
    """With a perturbation every layer runs the generic scan, so `jax.jvp` works through a 2-layer stack."""
    model = models.create("gru", hidden_size=H, num_layers=2)
    x = jax.random.normal(jax.random.key(1), (1, T, D))
    params = model.init(jax.random.key(0), x)
    delta = jnp.zeros((1, T, H))
    tangent = jax.tree.map(jnp.ones_like, params)
    _, jvp = jax.jvp(lambda p: model.apply(p, x, delta), (params,), (tangent,))
    _, vjp = jax.vjp(lambda p: model.apply(p, x), params)  # the hand-written VJP of the plain call
    probe = jax.random.normal(jax.random.key(2), jvp.shape)
    (pulled,) = vjp(probe)
    lhs = jnp.vdot(probe, jvp)
    rhs = sum(jnp.vdot(a, b) for a, b in zip(jax.tree.leaves(pulled), jax.tree.leaves(tangent)))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-4)
