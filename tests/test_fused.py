"""The hand-written VJPs (`seqgrad.models.handwritten_vjp`) of lstm and rnn: float32, vmap, forward mode, second order.

The float64 equivalence over every option value is `tests/test_handwritten_vjp.py`.

Reference: the same model with ``fused=False``, i.e. JAX's reverse mode of the
generic `recurrence.scan` step, in float64. The loss puts a random cotangent on
every time step, so every term of the backward recursion is exercised.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models

B, T, D, H = 3, 7, 4, 5


def _setup(name, options, dtype=jnp.float64, seed=0):
    fused = models.create(name, hidden_size=H, **options)
    generic = models.create(name, hidden_size=H, fused=False, **options)
    keys = jax.random.split(jax.random.key(seed), 4)
    x = jax.random.normal(keys[0], (B, T, D), dtype)
    params = fused.init(keys[1], x)
    # Shift every parameter (biases included), so every gate sits away from ½.
    leaves, treedef = jax.tree.flatten(params)
    noise = jax.random.split(keys[2], len(leaves))
    params = treedef.unflatten([p + 0.3 * jax.random.normal(k, p.shape, dtype) for p, k in zip(leaves, noise)])
    cotangent = jax.random.normal(keys[3], (B, T, H), dtype)
    return fused, generic, params, x, cotangent


def _value_and_grads(model, params, x, cotangent):
    def loss(p, x):
        return jnp.sum(jnp.sin(model.apply(p, x)) * cotangent)

    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))(params, x)


@pytest.mark.parametrize("name", ["lstm", "rnn"])
def test_fused_float32_matches_float64_reference(name):
    fused, _, params, x, cotangent = _setup(name, {}, dtype=jnp.float32)
    _, grads = _value_and_grads(fused, params, x, cotangent)
    generic = models.create(name, hidden_size=H, fused=False)
    with jax.enable_x64(True):
        params64, x64, cot64 = jax.tree.map(lambda a: jnp.asarray(np.asarray(a), jnp.float64), (params, x, cotangent))
        _, ref = _value_and_grads(generic, params64, x64, cot64)
    for got, want in zip(jax.tree.leaves(grads), jax.tree.leaves(ref)):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("name", ["lstm", "rnn"])
def test_fused_gradients_under_vmap_equal_separate_calls(name):
    fused, _, params_a, x, cotangent = _setup(name, {}, dtype=jnp.float32, seed=1)
    params_b = jax.tree.map(lambda p: 0.5 * p[::-1] if p.ndim else p, params_a)
    stacked = jax.tree.map(lambda a, b: jnp.stack([a, b]), params_a, params_b)

    def grads(p):
        return jax.grad(lambda p: jnp.sum(fused.apply(p, x) * cotangent))(p)

    batched = jax.jit(jax.vmap(grads))(stacked)
    for index, single in enumerate((params_a, params_b)):
        for got, want in zip(jax.tree.leaves(batched), jax.tree.leaves(grads(single))):
            np.testing.assert_allclose(got[index], want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["lstm", "rnn"])
def test_forward_mode_needs_fused_false(name):
    fused, generic, params, x, _ = _setup(name, {}, dtype=jnp.float32)
    tangent = jax.tree.map(jnp.ones_like, params)
    _, jvp_out = jax.jvp(lambda p: generic.apply(p, x), (params,), (tangent,))
    # Forward mode of the generic path equals the linearisation by reverse mode of the fused path.
    _, vjp = jax.vjp(lambda p: fused.apply(p, x), params)
    probe = jax.random.normal(jax.random.key(7), jvp_out.shape)
    (grad_probe,) = vjp(probe)
    reverse = sum(jnp.vdot(g, t) for g, t in zip(jax.tree.leaves(grad_probe), jax.tree.leaves(tangent)))
    np.testing.assert_allclose(jnp.vdot(probe, jvp_out), reverse, rtol=1e-4)
    with pytest.raises(TypeError, match="custom_vjp"):
        jax.jvp(lambda p: fused.apply(p, x), (params,), (tangent,))


@pytest.mark.parametrize("name", ["lstm", "rnn"])
def test_bad_fused_value_names_it(name):
    with pytest.raises(ValueError, match=r"fused=1 is invalid.*\[True, False\]"):
        models.create(name, hidden_size=4, fused=1)


def test_parameter_gradients_sum_outer_products_of_the_previous_state():
    """(∂W, ∂U, ∂b) = Σ_t (h_{t-1}ᵀ dz_t, x_tᵀ dz_t, Σ_b dz_t) with h_{-1} = 0, against NumPy loops."""
    from seqgrad.models.handwritten_vjp import parameter_gradients

    rng = np.random.default_rng(0)
    hs, x, dz = rng.normal(size=(T, B, H)), rng.normal(size=(T, B, D)), rng.normal(size=(T, B, 3 * H))
    with jax.enable_x64(True):
        dW, dU, db = parameter_gradients(jnp.asarray(hs), jnp.asarray(x), jnp.asarray(dz))
    h_prev = np.concatenate([np.zeros((1, B, H)), hs[:-1]])
    np.testing.assert_allclose(dW, sum(h_prev[t].T @ dz[t] for t in range(T)), rtol=1e-12)
    np.testing.assert_allclose(dU, sum(x[t].T @ dz[t] for t in range(T)), rtol=1e-12)
    np.testing.assert_allclose(db, dz.sum(axis=(0, 1)), rtol=1e-12)


@pytest.mark.parametrize("name", ["lstm", "gru", "rnn"])
def test_second_order_reverse_mode_equals_autodiff(name):
    """grad of a function of the gradient (reverse over reverse) goes through the hand-written backward."""
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(1), (2, 5, 3), jnp.float64)
        results = []
        for fused in (True, False):
            model = models.create(name, hidden_size=4, fused=fused)
            params = model.init(jax.random.key(0), x)

            def loss(p, model=model):
                return jnp.sum(jnp.sin(model.apply(p, x)))

            def gradient_energy(p, loss=loss):
                return sum(jnp.sum(jnp.cos(g)) for g in jax.tree.leaves(jax.grad(loss)(p)))

            results.append(jax.jit(jax.grad(gradient_energy))(params))
        for got, want in zip(*(jax.tree.leaves(r) for r in results)):
            assert float(jnp.max(jnp.abs(want))) > 1e-3
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
