"""Widths at a model's perturbation site: n of the perturbation ``δ: [T, n]``, m of the probe ``[T, m]``.

The state Jacobians ``∂probe_{T-1}/∂δ_t`` are ``m × n``; m = n unless the probe is a
whole model's output (`seqgrad.models.from_nnx` with a named cell).
"""

from __future__ import annotations

import flax.linen as nn
import jax

Array = jax.Array


def site_width(model: nn.Module, site: str) -> int:
    """Width n of the perturbation and probe at ``site``."""
    size = getattr(model, "site_size", None)
    return size(site) if callable(size) else model.hidden_size


def probe_width(model: nn.Module, params, x: Array, site: str) -> int:
    """Width m of the probe at ``site``: n where the probe is the state, the output's width otherwise.

    A whole model with a named cell (`seqgrad.models.from_nnx`) perturbs its cell's
    carry (n) and probes its output (m): its Jacobians are ``m × n``.
    """
    return jax.eval_shape(lambda: model.apply(params, x[None], return_probe=True, site=site)[1]).shape[-1]
