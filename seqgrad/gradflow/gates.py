"""Gate statistics of the LSTM forget gate and the GRU update gate along task sequences.

From the model's own output ``h: [B, T, H]`` (one layer) and its inputs, with
``h_{-1} = 0``, the gates of every step are recomputed from the layer's
parameters (the parameter layouts of `seqgrad.models.lstm` and
`seqgrad.models.gru`):

    LSTM  f_t = σ(h_{t-1} W_f + x_t U_f + b_f)   (block 1 of the fused (i, f, o, c̃) columns)
    GRU   z_t = σ(h_{t-1} W_z + x_t U_z + b_z)   (block 0 of (z, r, h̃); z ≈ 0 keeps the state)

`gate_statistics` summarises them: mean, quantiles over every (b, t, unit), the
per-unit mean over (b, t), and the fraction of units whose mean gate keeps
memory: ``f > threshold`` for the LSTM, ``1 − z > threshold`` for the GRU (its
carry factor is ``1 − z``). Along the LSTM cell path ``∂c_t/∂c_{t-1} = diag(f_t)``,
so the carry factor is what lets ``∂c_{T-1}/∂c_t`` survive.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# architecture -> (gate name, index of its block, number of fused blocks, carry = gate or 1 − gate)
GATES = {"lstm": ("forget", 1, 4, False), "gru": ("update", 0, 3, True)}
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def gate_sequence(name: str, layer_params, x, h):
    """The gate ``[B, T, H]`` of a one-layer ``name`` model (``lstm`` or ``gru``) on inputs ``x [B, T, D]``."""
    if name not in GATES:
        raise ValueError(f"model.name={name!r} has no gate statistics; valid choices: {sorted(GATES)}")
    _, block, _, _ = GATES[name]
    H = h.shape[-1]
    cols = slice(block * H, (block + 1) * H)
    h_prev = jnp.concatenate([jnp.zeros_like(h[:, :1]), h[:, :-1]], axis=1)
    pre = h_prev @ layer_params["recurrent_kernel"][:, cols] + x @ layer_params["input_kernel"][:, cols]
    return jax.nn.sigmoid(pre + layer_params["bias"][cols])


def gate_statistics(name: str, gate, *, threshold: float = 0.95) -> dict:
    """Summary of ``gate [B, T, H]``: its carry factor (f, or 1 − z) in numbers."""
    label, _, _, complement = GATES[name]
    carry = 1.0 - np.asarray(gate) if complement else np.asarray(gate)
    per_unit = carry.mean(axis=(0, 1))
    return {
        "gate": label,
        "carry": "1 - z" if complement else "f",
        "mean": float(carry.mean()),
        "quantiles": {str(q): float(v) for q, v in zip(QUANTILES, np.quantile(carry, QUANTILES))},
        "unit_means": per_unit.tolist(),
        "threshold": threshold,
        "fraction_units_above": float(np.mean(per_unit > threshold)),
    }
