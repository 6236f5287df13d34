"""Shared test settings: the CPU platform and small, fast options for every architecture."""

from __future__ import annotations

import os

# Tests run on the CPU with one device unless a test asks for more.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

# Small options per architecture, so the parametrised zoo tests stay fast.
# An architecture missing here is tested with its defaults.
SMALL_OPTIONS: dict[str, dict] = {
    "rnn": {},
    "residual_rnn": {},
    "lstm": {},
    "gru": {},
    "skip_rnn": {"skip": 3},
    "multiscale_rnn": {"num_modules": 2, "period_base": 2},
    "attention_rnn": {"num_heads": 2},
    "transformer": {"num_layers": 2, "num_heads": 2},
    "dilated_conv": {"kernel_size": 2, "num_blocks": 2},
    "lru": {},
    "orthogonal_rnn": {},
    "mingru": {},
}
