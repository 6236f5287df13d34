"""The GRU's hand-written VJP (`seqgrad.models.gru.GRU_CELL`) equals automatic differentiation.

Reference: the same model with ``fused=False``, i.e. JAX's reverse mode of the
generic `recurrence.scan` step, in float64 (agreement to rtol 1e-10: both are
exact, only the order of float64 roundings differs). The loss puts a random
cotangent on every time step, so every term of the backward recursion is
exercised, not only the path from the last step. A central finite difference
of the forward pass checks the gradient independently of any autodiff.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models
from seqgrad.models import handwritten_vjp
from seqgrad.models.gru import GRU_CELL

B, T, D, H = 3, 7, 4, 5


def _setup(options, dtype=jnp.float64, seed=0):
    fused = models.create("gru", hidden_size=H, **options)
    generic = models.create("gru", hidden_size=H, fused=False, **options)
    rng = np.random.default_rng(seed)  # NumPy draws: no per-shape compilation in the tests

    def normal(shape, scale=1.0):
        return jnp.asarray(scale * rng.standard_normal(shape), dtype)

    x = normal((B, T, D))
    params = jax.jit(fused.init)(jax.random.key(seed), x)
    # Non-trivial biases and weights, so every gate sits away from ½.
    params = jax.tree.map(lambda p: p + normal(p.shape, 0.3), params)
    return fused, generic, params, x, normal((B, T, H))


def _loss(model, cotangent):
    def loss(params, x):
        return jnp.sum(jnp.sin(model.apply(params, x)) * cotangent)

    return loss


def _apply(model, params, x):
    return jax.jit(model.apply)(params, x)


def _value_and_grads(model, params, x, cotangent):
    return jax.jit(jax.value_and_grad(_loss(model, cotangent), argnums=(0, 1)))(params, x)


def test_fused_gradient_equals_central_difference():
    """``⟨∇L, v⟩ = (L(θ + εv) - L(θ - εv)) / 2ε + O(ε²)``: ε = 1e-5 leaves ~1e-10 relative error."""
    with jax.enable_x64(True):
        fused, _, params, x, cotangent = _setup({"num_layers": 2}, seed=3)
        loss = jax.jit(_loss(fused, cotangent))
        grads = jax.grad(loss)(params, x)
        rng = np.random.default_rng(5)
        direction = jax.tree.map(lambda p: jnp.asarray(rng.standard_normal(p.shape)), params)
        eps = 1e-5
        shifted = [jax.tree.map(lambda p, v: p + sign * eps * v, params, direction) for sign in (1, -1)]
        difference = (loss(shifted[0], x) - loss(shifted[1], x)) / (2 * eps)
        analytic = sum(jnp.vdot(g, v) for g, v in zip(jax.tree.leaves(grads), jax.tree.leaves(direction)))
        np.testing.assert_allclose(analytic, difference, rtol=1e-8)


def test_fused_float32_matches_float64_reference():
    fused, _, params, x, cotangent = _setup({}, dtype=jnp.float32)
    _, grads = _value_and_grads(fused, params, x, cotangent)
    assert all(g.dtype == jnp.float32 for g in jax.tree.leaves(grads))
    with jax.enable_x64(True):
        generic = models.create("gru", hidden_size=H, fused=False)
        params64, x64, cot64 = jax.tree.map(lambda a: jnp.asarray(np.asarray(a), jnp.float64), (params, x, cotangent))
        _, ref = _value_and_grads(generic, params64, x64, cot64)
    for got, want in zip(jax.tree.leaves(grads), jax.tree.leaves(ref)):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5)


def test_fused_gradients_under_vmap_equal_separate_calls():
    """Training vmaps replicas over parameter sets: the batched backward equals each single one."""
    with jax.enable_x64(True):
        fused, generic, params_a, x, cotangent = _setup({"num_layers": 2}, seed=1)
        params_b = jax.tree.map(lambda p: 0.5 * p[::-1], params_a)
        stacked = jax.tree.map(lambda a, b: jnp.stack([a, b]), params_a, params_b)

        def grads(model):
            return jax.grad(_loss(model, cotangent), argnums=(0, 1))

        batched = jax.jit(jax.vmap(grads(fused), in_axes=(0, None)))(stacked, x)
        reference_grads = jax.jit(grads(generic))
        for index, single in enumerate((params_a, params_b)):
            reference = reference_grads(single, x)
            for got, want in zip(jax.tree.leaves(batched), jax.tree.leaves(reference)):
                np.testing.assert_allclose(got[index], want, rtol=1e-10, atol=1e-12)


def test_forward_mode_needs_fused_false():
    with jax.enable_x64(True):
        fused, generic, params, x, _ = _setup({})
        tangent = jax.tree.map(jnp.ones_like, params)
        out, jvp_out = jax.jit(lambda p, t: jax.jvp(lambda p: generic.apply(p, x), (p,), (t,)))(params, tangent)
        np.testing.assert_allclose(out, _apply(fused, params, x), rtol=1e-12, atol=1e-13)
        # Forward mode of the generic path equals the transpose of the fused reverse mode.
        probe = jnp.asarray(np.random.default_rng(7).standard_normal(jvp_out.shape))
        (grad_probe,) = jax.jit(lambda p, v: jax.vjp(lambda p: fused.apply(p, x), p)[1](v))(params, probe)
        reverse = sum(jnp.vdot(g, t) for g, t in zip(jax.tree.leaves(grad_probe), jax.tree.leaves(tangent)))
        np.testing.assert_allclose(jnp.vdot(probe, jvp_out), reverse, rtol=1e-10)
        with pytest.raises(TypeError, match="custom_vjp"):
            jax.jvp(lambda p: fused.apply(p, x), (params,), (tangent,))


def test_diagnostics_keep_the_generic_path():
    """With a perturbation the fused model runs `recurrence.scan`, so forward mode works and matches."""
    with jax.enable_x64(True):
        fused, generic, params, x, _ = _setup({})
        delta = jnp.zeros((B, T, H), jnp.float64)
        tangent = jnp.asarray(np.random.default_rng(2).standard_normal(delta.shape))
        got, want = (
            jax.jit(lambda d, t, m=m: jax.jvp(lambda d: m.apply(params, x, d), (d,), (t,)))(delta, tangent)
            for m in (fused, generic)
        )
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
        np.testing.assert_allclose(got[0], _apply(fused, params, x), rtol=1e-12, atol=1e-13)


def test_layer_function_is_time_major_and_jit_compatible():
    """`handwritten_vjp.layer(GRU_CELL, ...)` directly: ``[T, B, D] -> [T, B, H]``, jitted with a static unroll."""
    rng = np.random.default_rng(4)
    shapes = [(H, 2 * H), (H, H), (D, 3 * H), (3 * H,), (T, B, D)]
    W_zr, W_h, U, b, x = (jnp.asarray(rng.standard_normal(shape), jnp.float32) for shape in shapes)
    layer = jax.jit(handwritten_vjp.layer, static_argnums=(0, 3))
    h = layer(GRU_CELL, (W_zr, W_h, U, b), x, 2)
    assert h.shape == (T, B, H)
    np.testing.assert_allclose(h, layer(GRU_CELL, (W_zr, W_h, U, b), x, 1), rtol=1e-6, atol=1e-6)  # unroll changes nothing
    # First step from h_{-1} = 0 (params as given, i.e. already ½-scaled):
    # z = ½ tanh(x U_z + b_z) + ½, h_0 = z ⊙ tanh(x U_h + b_h).
    z = 0.5 * jnp.tanh(x[0] @ U[:, :H] + b[:H]) + 0.5
    np.testing.assert_allclose(h[0], z * jnp.tanh(x[0] @ U[:, 2 * H :] + b[2 * H :]), rtol=1e-5, atol=1e-6)


def test_bad_fused_value_names_it():
    with pytest.raises(ValueError, match=r"fused=1 is invalid.*\[True, False\]"):
        models.create("gru", hidden_size=4, fused=1)
