"""`mlstm`: recurrent and parallel forms against a float64 NumPy loop of Beck et al. (2024), and the memory Jacobian."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models
from tests.zoo_helpers import assert_matches_reference, layer_params, random_params, sigmoid, state_jacobians


def numpy_mlstm(x, p, num_heads, return_forget=False):
    """C_t = f C + i v kᵀ, n_t = f n + i k, h = o ⊙ C q / max(|nᵀq|, 1), per head, sequentially."""
    B, T, _ = x.shape
    H = p["output_bias"].shape[0]
    d = H // num_heads
    C, n = np.zeros((B, num_heads, d, d)), np.zeros((B, num_heads, d))
    hs, fs = [], []
    for t in range(T):
        proj = (x[:, t] @ p["input_kernel"]).reshape(B, 4, num_heads, d)
        q, k, v = proj[:, 0], proj[:, 1] / np.sqrt(d), proj[:, 2]
        o = sigmoid(proj[:, 3].reshape(B, H) + p["output_bias"])
        gates = x[:, t] @ p["gate_kernel"] + p["gate_bias"]
        i, f = np.exp(gates[:, :num_heads])[..., None], sigmoid(gates[:, num_heads:])[..., None]
        C = f[..., None] * C + i[..., None] * v[..., :, None] * k[..., None, :]
        n = f * n + i * k
        readout = np.einsum("bgij,bgj->bgi", C, q) / np.maximum(np.abs((n * q).sum(-1, keepdims=True)), 1.0)
        hs.append(o * readout.reshape(B, H))
        fs.append(f[..., 0])
    return (np.stack(hs, 1), np.stack(fs, 1)) if return_forget else np.stack(hs, 1)


@pytest.mark.parametrize("form, num_heads, num_layers", [("recurrent", 2, 1), ("parallel", 2, 1), ("parallel", 1, 2)])
def test_recurrent_and_parallel_forms_equal_the_loop(form, num_heads, num_layers):
    assert_matches_reference("mlstm", numpy_mlstm, num_layers=num_layers, hidden_size=6, rtol=1e-11,
                             num_heads=num_heads, form=form, reference_options=dict(num_heads=num_heads))


def test_parallel_form_is_stabilised():
    """Input gates exp(ĩ) with ĩ ≈ 120 overflow float32 in the recurrent form; the row stabiliser keeps h finite."""
    x = jax.random.normal(jax.random.key(1), (1, 12, 3))
    h = {}
    for form in ("parallel", "recurrent"):
        model = models.create("mlstm", hidden_size=4, form=form)
        params = jax.jit(model.init)(jax.random.key(0), x)
        layer = dict(params["params"]["layer_0"])
        layer["gate_bias"] = layer["gate_bias"].at[:2].set(120.0)
        h[form] = jax.jit(model.apply)({"params": {"layer_0": layer}}, x)
    assert bool(jnp.all(jnp.isfinite(h["parallel"]))) and not bool(jnp.all(jnp.isfinite(h["recurrent"])))


def test_memory_jacobian_is_the_product_of_forget_gates():
    """Site "hidden": δ u^T enters C, the probe is C u: ∂p_{T−1}/∂δ_t = ∏_{s>t} f_s · I per head."""
    with jax.enable_x64(True):
        T, H, heads = 10, 6, 2
        x = jax.random.normal(jax.random.key(2), (1, T, 3), jnp.float64)
        model = models.create("mlstm", hidden_size=H, num_heads=heads)
        params = random_params(model, x)
        J = state_jacobians(model, params, x)
        _, f = numpy_mlstm(np.asarray(x), layer_params(params), heads, return_forget=True)  # [1, T, heads]
        for t in range(T):
            expected = np.diag(np.repeat(np.prod(f[0, t + 1 :], axis=0), H // heads))
            np.testing.assert_allclose(J[t], expected, rtol=1e-11, atol=1e-300)
