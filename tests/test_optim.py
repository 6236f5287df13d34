"""The optax chains of `seqgrad.train.optim`: each clipping rule on hand-made gradients,
non-finite skipping, schedules, optimizers, and per-replica hyper-parameters.

With ``sgd`` at learning rate 1 a step is ``p ← p − clip(g)``, so the clipped
gradient is read off exactly as ``p_old − p_new``. Tolerances are float32 round-off.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from seqgrad.train import config as cfg
from seqgrad.train import optim


def optim_config(**overrides):
    c = cfg.base_config().optim
    c.name, c.learning_rate, c.schedule = "sgd", 1.0, "constant"
    for k, v in overrides.items():
        c[k] = v
    return c


def clipped(rule, value, params, grads):
    """The gradient after clipping, read off one sgd step at learning rate 1."""
    tx = optim.make_optimizer(optim_config(clip=rule, clip_value=value), 10)
    updates, _ = tx.update(grads, tx.init(params), params)
    return jax.tree.map(lambda u: -np.asarray(u), updates)


PARAMS = {"w": jnp.array([[3.0, 0.0], [4.0, 1.0]]), "b": jnp.array([0.0, 2.0])}
GRADS = {"w": jnp.array([[6.0, 0.01], [8.0, 0.0]]), "b": jnp.array([1.0, 0.0])}
# ‖g‖₂ over all leaves = sqrt(36 + 1e-4 + 64 + 1) = sqrt(101.0001)
GLOBAL = math.sqrt(101.0001)


@pytest.mark.parametrize(
    "rule, value, expected",
    [
        ("none", 1.0, {"w": [[6.0, 0.01], [8.0, 0.0]], "b": [1.0, 0.0]}),
        # element-wise clip to [-0.5, 0.5]
        ("value", 0.5, {"w": [[0.5, 0.01], [0.5, 0.0]], "b": [0.5, 0.0]}),
        # g · 2 / ‖g‖
        (
            "global_norm",
            2.0,
            {"w": [[12 / GLOBAL, 0.02 / GLOBAL], [16 / GLOBAL, 0.0]], "b": [2 / GLOBAL, 0.0]},
        ),
        # per leaf: g · min(1, 1 / rms(g)); rms(w) = sqrt(100.0001 / 4) ≈ 5.0000025, rms(b) = sqrt(1/2)
        (
            "block_rms",
            1.0,
            {"w": (np.array([[6.0, 0.01], [8.0, 0.0]]) / math.sqrt(100.0001 / 4)).tolist(), "b": [1.0, 0.0]},
        ),
        # AGC, clipping 0.1, units = columns of w (‖w‖ = 5, 1; ‖g‖ = 10, 0.01) and all of b
        # (‖b‖ = 2, ‖g_b‖ = 1): column 0 scaled by 0.5 / 10, column 1 kept; b scaled by 0.2 / 1.
        ("adaptive", 0.1, {"w": [[0.3, 0.01], [0.4, 0.0]], "b": [0.2, 0.0]}),
    ],
)
def test_clipping_rules_on_hand_made_gradient(rule, value, expected):
    out = clipped(rule, value, PARAMS, GRADS)
    for key in ("w", "b"):
        np.testing.assert_allclose(out[key], np.asarray(expected[key]), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("rule, value", [("value", 0.5), ("global_norm", 2.0), ("block_rms", 1.0), ("adaptive", 0.1)])
def test_was_clipped_matches_the_rule(rule, value):
    c = optim_config(clip=rule, clip_value=value)
    tx = optim.make_optimizer(c, 10)
    state = tx.init(PARAMS)
    assert bool(optim.was_clipped(c, state, GRADS, PARAMS))
    small = jax.tree.map(lambda g: g * 1e-4, GRADS)
    assert not bool(optim.was_clipped(c, state, small, PARAMS))


def test_global_norm_passes_nan_without_skip_and_skip_keeps_params():
    """REFERENCES.md pitfall: clipping does not protect against NaN; apply_if_finite does."""
    params = {"w": jnp.ones((2,))}
    bad = {"w": jnp.array([jnp.nan, 1.0])}
    good = {"w": jnp.array([0.5, -0.5])}

    plain = optim.make_optimizer(optim_config(clip="global_norm", clip_value=1.0), 10)
    updates, _ = plain.update(bad, plain.init(params), params)
    assert not np.all(np.isfinite(np.asarray(updates["w"])))

    tx = optim.make_optimizer(optim_config(clip="global_norm", clip_value=1.0, skip_nonfinite=True), 10)
    state = tx.init(params)
    updates, state = tx.update(bad, state, params)
    np.testing.assert_array_equal(np.asarray(updates["w"]), [0.0, 0.0])  # skipped
    assert int(state.total_notfinite) == 1
    updates, state = tx.update(good, state, params)
    np.testing.assert_allclose(np.asarray(updates["w"]), [-0.5, 0.5])  # the next finite step applies
    assert int(state.total_notfinite) == 1 and int(state.notfinite_count) == 0


def test_warmup_cosine_schedule_values():
    c = optim_config(schedule="warmup_cosine", warmup_steps=10, decay_steps=110, end_lr_fraction=0.1, learning_rate=2.0)
    s = optim.schedule(c, total_steps=1000)
    assert float(s(0)) == 0.0
    assert float(s(5)) == pytest.approx(0.5)
    assert float(s(10)) == pytest.approx(1.0)
    # halfway through the cosine: 0.1 + 0.9 · (1 + cos(π/2)) / 2 = 0.55
    assert float(s(60)) == pytest.approx(0.55, rel=1e-6)
    assert float(s(110)) == pytest.approx(0.1, rel=1e-6)
    tx = optim.make_optimizer(c, 1000)
    state = tx.init(PARAMS)
    assert float(optim.current_learning_rate(c, 1000, state, 60)) == pytest.approx(1.1, rel=1e-6)


def test_schedule_scales_the_sgd_step():
    c = optim_config(schedule="warmup_cosine", warmup_steps=4, decay_steps=100, clip="none")
    tx = optim.make_optimizer(c, 100)
    params = {"w": jnp.zeros(())}
    state = tx.init(params)
    steps = []
    for _ in range(3):
        updates, state = tx.update({"w": jnp.ones(())}, state, params)
        steps.append(-float(updates["w"]))
    np.testing.assert_allclose(steps, [0.0, 0.25, 0.5], rtol=1e-6)


def test_optimizers_first_steps():
    g = {"w": jnp.array([2.0, -0.5])}
    p = {"w": jnp.array([1.0, 1.0])}

    def first_two(name, **kw):
        tx = optim.make_optimizer(optim_config(name=name, clip="none", learning_rate=0.1, **kw), 10)
        s = tx.init(p)
        u1, s = tx.update(g, s, p)
        u2, s = tx.update(g, s, p)
        return np.asarray(u1["w"]), np.asarray(u2["w"])

    u1, u2 = first_two("sgd")
    np.testing.assert_allclose(u1, [-0.2, 0.05], rtol=1e-6)
    u1, u2 = first_two("momentum", momentum=0.9)  # v₂ = 0.9 g + g
    np.testing.assert_allclose(u2, -0.1 * 1.9 * np.array([2.0, -0.5]), rtol=1e-6)
    u1, _ = first_two("adam")  # bias-corrected first step: −lr · g / (|g| + ε)
    np.testing.assert_allclose(u1, [-0.1, 0.1], rtol=2e-5)  # 1 − b2 rounds in float32
    u1, _ = first_two("adamw", weight_decay=0.5)  # −lr (sign(g) + wd · p)
    np.testing.assert_allclose(u1, [-0.1 - 0.05, 0.1 - 0.05], rtol=2e-5)
    u1, _ = first_two("rmsprop", decay=0.9, momentum=0.0)  # −lr g / sqrt(0.1 g²)
    np.testing.assert_allclose(u1, -0.1 * np.sign([2.0, -0.5]) / math.sqrt(0.1), rtol=1e-5)
    u1, _ = first_two("sgd", weight_decay=0.5)  # L2: −lr (g + wd · p)
    np.testing.assert_allclose(u1, [-0.1 * 2.5, -0.1 * 0.0], atol=1e-7)


def test_per_replica_hyperparameters_under_vmap():
    """inject_hyperparams: replicas with their own lr and clip value share one update."""
    c = optim_config(clip="global_norm", clip_value=1.0, skip_nonfinite=True)
    tx = optim.make_optimizer(c, 10)
    params = {"w": jnp.zeros((2,))}
    lrs, clips = jnp.array([1.0, 0.1, 0.01]), jnp.array([10.0, 10.0, 0.5])
    states = jax.vmap(lambda lr, cv: optim.with_hyperparams(tx.init(params), learning_rate=lr, clip_value=cv))(
        lrs, clips
    )
    grads = {"w": jnp.array([3.0, 4.0])}  # ‖g‖ = 5
    updates, _ = jax.vmap(lambda s: tx.update(grads, s, params))(states)
    expected = -np.array([[3.0, 4.0], [0.3, 0.4], [0.01 * 0.3, 0.01 * 0.4]])
    np.testing.assert_allclose(np.asarray(updates["w"]), expected, rtol=1e-6)
    assert set(optim.hyperparams(states)) == {"learning_rate", "clip_value", "weight_decay"}


@pytest.mark.parametrize("clip, expect_clipped", [("global_norm", [1.0, 0.0, 0.0]), ("none", [0.0, 0.0, 0.0])])
def test_applied_state_matches_the_update_actually_applied(clip, expect_clipped):
    """sgd: the update is −lr · clip(g). `applied` must report the lr and pre-clip norm of
    that update; a skipped (non-finite) step applies nothing and reports lr 0, and the
    schedule does not advance over it (the old metric read the schedule at the training
    step: 0.3 · s(2) = 0.3 where 0.3 · s(1) = 0.15 was applied)."""
    c = optim_config(name="sgd", learning_rate=0.3, schedule="warmup_cosine", warmup_steps=2, decay_steps=10,
                     clip=clip, clip_value=1.0, skip_nonfinite=True)
    tx = optim.make_optimizer(c, 10)
    params = {"w": jnp.ones((3,))}
    state = tx.init(params)
    grads = [jnp.array([3.0, 0.0, 4.0]), jnp.array([jnp.nan, 0.0, 0.0]), jnp.array([0.3, 0.0, 0.4]),
             jnp.array([0.6, 0.0, 0.8])]
    unit = optim.schedule(c, 10)
    expected_lr = [0.3 * float(unit(0)), 0.0, 0.3 * float(unit(1)), 0.3 * float(unit(2))]
    norms = [5.0, math.nan, 0.5, 1.0]
    seen_clipped = []
    for g, lr, norm in zip(grads, expected_lr, norms):
        updates, state = tx.update({"w": g}, state, params)
        new = optax.apply_updates(params, updates)
        done = optim.applied(state)
        seen_clipped.append(float(done["clipped"]))
        assert float(done["learning_rate"]) == pytest.approx(lr, rel=1e-6, abs=1e-12)
        if math.isnan(norm):
            assert bool(done["skipped"]) and math.isnan(float(done["grad_norm"]))
            np.testing.assert_array_equal(np.asarray(new["w"]), np.asarray(params["w"]))
            continue
        assert not bool(done["skipped"])
        assert float(done["grad_norm"]) == pytest.approx(norm, rel=1e-6)
        g_applied = np.asarray(g) * (min(1.0, 1.0 / norm) if clip == "global_norm" else 1.0)
        # the parameter change is exactly −(applied lr) · (clipped gradient)
        np.testing.assert_allclose(np.asarray(params["w"]) - np.asarray(new["w"]), float(done["learning_rate"]) * g_applied,
                                   rtol=1e-6, atol=1e-7)
        params = new
    assert int(optim.applied(state)["count"]) == 3  # three applied updates, one skipped
    assert seen_clipped[:1] + seen_clipped[2:] == expect_clipped and seen_clipped[1] == 0.0
