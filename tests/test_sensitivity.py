"""`parameter_jacobians` against finite differences (float64) and a closed form; the
curse-of-memory moments against their long-T closed forms (Monte Carlo)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models
from seqgrad.gradflow import parameter_jacobians, sensitivity
from tests.conftest import SMALL_OPTIONS

T, D, H = 6, 2, 4


def setup(name, **extra):
    model = models.create(name, hidden_size=H, **{**SMALL_OPTIONS.get(name, {}), **extra})
    x = jax.random.normal(jax.random.key(0), (T, D), jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)
    params = jax.jit(model.init)(jax.random.key(1), x[None])
    return model, params, x


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru", "lru", "mingru", "transformer"])
def test_parameter_jacobians_match_finite_differences(name):
    # Central differences along one random direction per leaf: error O(ε²) ≈ 1e-10 at ε = 1e-5
    # in float64; tolerance 1e-6 relative to the directional derivative's scale.
    with jax.enable_x64(True):
        model, params, x = setup(name)
        jac = parameter_jacobians(model, params, x)
        last = jax.jit(lambda p: model.apply(p, x[None])[0, -1])
        leaves, treedef = jax.tree_util.tree_flatten(params)
        jac_leaves = treedef.flatten_up_to(jac)
        rng = np.random.default_rng(0)
        eps = 1e-5
        for i, (leaf, j) in enumerate(zip(leaves, jac_leaves)):
            assert j.shape == (H, *leaf.shape)
            v = rng.standard_normal(leaf.shape)
            shifted = [lambda s, k=k: leaves[k] + s * v if k == i else leaves[k] for k in range(len(leaves))]
            plus = last(treedef.unflatten([f(eps) for f in shifted]))
            minus = last(treedef.unflatten([f(-eps) for f in shifted]))
            fd = np.asarray(plus - minus) / (2 * eps)
            ad = np.tensordot(np.asarray(j), v, axes=leaf.ndim)
            np.testing.assert_allclose(ad, fd, rtol=1e-6, atol=1e-6 * (1 + np.abs(fd).max()))


def test_parameter_jacobian_of_linear_rnn_closed_form():
    # h_t = h_{t-1} W + x_t U + b (row vectors, h_{-1} = 0): ∂h_{T-1,i}/∂b_j = Σ_k (W^k)_{j,i}.
    with jax.enable_x64(True):
        model, params, x = setup("rnn", activation="linear", recurrent_init="normal")
        layer = params["params"]["layer_0"]
        W = np.asarray(layer["recurrent_kernel"])
        jac = parameter_jacobians(model, params, x)["params"]["layer_0"]
    bias_key = next(k for k in layer if "bias" in k)
    expected = sum(np.linalg.matrix_power(W, k) for k in range(T)).T
    np.testing.assert_allclose(np.asarray(jac[bias_key]), expected, rtol=1e-12, atol=1e-12)


def test_parameter_jacobians_rejects_a_batch():
    model, params, _ = setup("rnn")
    with pytest.raises(ValueError, match="one sequence"):
        parameter_jacobians(model, params, jnp.zeros((2, T, D)))


@pytest.mark.parametrize("name", sorted(sensitivity.RECURRENCES))
def test_monte_carlo_matches_the_long_memory_closed_form(name):
    # 4096 sequences, T = 1500 ≫ 1/(1 − λ) = 20 at λ = 0.95. h and ∂h/∂θ are Gaussian, so
    # the relative SE of a second moment is √(2/4096) = 2.2 %; tolerance 10 % (≈ 4.5 SE).
    lam = np.array([0.5, 0.8, 0.95])
    with jax.enable_x64(True):
        mc = sensitivity.monte_carlo(name, lam, jax.random.key(3), length=1500, num_sequences=4096)
        cf = sensitivity.closed_form(name, lam)
    np.testing.assert_allclose(mc["state_var"], cf["state_var"], rtol=0.1)
    np.testing.assert_allclose(mc["param_sensitivity"], cf["param_sensitivity"], rtol=0.1)


def test_closed_form_of_the_linear_recurrence():
    # Zucchet & Orvieto (2024): E[h²] = 1/(1 − λ²), E[(∂h/∂λ)²] = (1 + λ²)/(1 − λ²)³.
    lam = np.array([0.3, 0.9, 0.999])
    with jax.enable_x64(True):
        cf = sensitivity.closed_form("linear", lam)
        normalised = sensitivity.closed_form("lru_normalised", lam)
    np.testing.assert_allclose(cf["state_var"], 1 / (1 - lam**2), rtol=1e-12)
    np.testing.assert_allclose(cf["param_sensitivity"], (1 + lam**2) / (1 - lam**2) ** 3, rtol=1e-12)
    # γ = √(1 − λ²) scales the state to unit variance and the sensitivity by γ².
    np.testing.assert_allclose(normalised["state_var"], 1.0, rtol=1e-12)
    np.testing.assert_allclose(normalised["param_sensitivity"], (1 + lam**2) / (1 - lam**2) ** 2, rtol=1e-12)


def test_unknown_recurrence():
    with pytest.raises(ValueError, match="recurrence='elman' is unknown"):
        sensitivity.closed_form("elman", [0.5])


def test_curse_of_memory_run_writes_its_files_and_verdict(tmp_path):
    import importlib.util
    import json

    from seqgrad.jobs import memory_curse

    spec = importlib.util.spec_from_file_location("com", "experiments/curse_of_memory.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config("quick")
    config.unlock()
    config.recurrences = ["linear", "lru_exp_normalised"]
    config.length, config.num_sequences = 400, 128
    report = memory_curse.run(config, str(tmp_path))
    saved = json.loads((tmp_path / "curse_of_memory.json").read_text())
    assert (tmp_path / "curse_of_memory.png").stat().st_size > 0
    # Closed-form exponents over λ in [0.9, 0.99]: ≈ −3 (plain) and ≈ 0 (published LRU).
    assert saved["results"]["linear"]["closed_form_slope"] == pytest.approx(-3, abs=0.1)
    assert abs(saved["results"]["lru_exp_normalised"]["closed_form_slope"]) < 0.2
    assert report["claim"]["verdict"] == "supported"
    assert "supported" in (tmp_path / "summary.md").read_text()
    with pytest.raises(ValueError, match="lambdas="):
        config.lambdas = [0.5, 1.0]
        memory_curse.check_config(config)
