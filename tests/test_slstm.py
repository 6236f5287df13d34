"""`slstm`: the stabilised and plain forms against an unstabilised float64 NumPy loop of Beck et al. (2024)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from seqgrad import models
from tests.zoo_helpers import assert_matches_reference, layer_params, sigmoid


def numpy_slstm(x, p, forget_gate):
    """The plain equations (no stabiliser), R block-diagonal over heads, gate blocks (z, i, f, o)."""
    heads, dh, _ = p["recurrent_kernel"].shape
    H = heads * dh
    # [H, 4H] with gate g of head k in columns g·H + k·dh ... : the block of head k feeds head k only.
    R = np.zeros((H, 4 * H))
    for g in range(4):
        R[:, g * H : (g + 1) * H] = scipy.linalg.block_diag(*[p["recurrent_kernel"][k][:, g * dh : (g + 1) * dh] for k in range(heads)])
    h = c = n = np.zeros((x.shape[0], H))
    hs = []
    for t in range(x.shape[1]):
        pre = x[:, t] @ p["input_kernel"] + h @ R + p["bias"]
        z, i, o = np.tanh(pre[:, :H]), np.exp(pre[:, H : 2 * H]), sigmoid(pre[:, 3 * H :])
        f = sigmoid(pre[:, 2 * H : 3 * H]) if forget_gate == "sigmoid" else np.exp(pre[:, 2 * H : 3 * H])
        c, n = f * c + i * z, f * n + i
        h = o * c / n
        hs.append(h)
    return np.stack(hs, 1)


@pytest.mark.parametrize(
    "forget_gate, stabilized, num_heads, num_layers",
    [("sigmoid", True, 2, 1), ("exp", True, 3, 1), ("sigmoid", False, 1, 2), ("exp", False, 2, 1)],
)
def test_both_forms_equal_the_plain_equations(forget_gate, stabilized, num_heads, num_layers):
    assert_matches_reference("slstm", numpy_slstm, num_layers=num_layers, hidden_size=6, rtol=1e-11,
                             num_heads=num_heads, forget_gate=forget_gate, stabilized=stabilized,
                             reference_options=dict(forget_gate=forget_gate))


def test_stabiliser_keeps_large_input_gates_finite():
    """ĩ ≈ 200: exp(ĩ) overflows float32 (and makes c/n = inf/inf) without the stabiliser."""
    x = jax.random.normal(jax.random.key(1), (1, 20, 3))
    for stabilized, finite in ((True, True), (False, False)):
        model = models.create("slstm", hidden_size=4, stabilized=stabilized)
        params = jax.jit(model.init)(jax.random.key(0), x)
        layer = dict(params["params"]["layer_0"])
        layer["bias"] = layer["bias"].at[4:8].set(200.0)
        h = jax.jit(model.apply)({"params": {"layer_0": layer}}, x)
        assert bool(jnp.all(jnp.isfinite(h))) is finite


def test_heads_must_divide_the_hidden_size():
    with pytest.raises(ValueError, match="num_heads=4 is invalid for 'slstm' with hidden_size=6"):
        models.create("slstm", hidden_size=6, num_heads=4)


def test_recurrent_kernel_is_block_diagonal():
    model = models.create("slstm", hidden_size=6, num_heads=3)
    p = layer_params(jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, 2, 3))))
    assert p["recurrent_kernel"].shape == (3, 2, 8)
