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


def tiny_adding_run(length: int, *, model: str = "gru", steps: int = 6, seeds: int = 2, every: int = 3):
    """A training config small enough for tests: the adding problem, H = 4, B = 4, no progress bar."""
    from seqgrad.train import config as cfg

    c = cfg.base_config()
    cfg.set_task(c, "adding", length)
    cfg.set_model(c, model)
    c.model.hidden_size = 4
    c.train.steps, c.train.batch_size, c.train.num_seeds = steps, 4, seeds
    c.train.steps_per_dispatch, c.checkpoint.every = every, every
    c.eval.batch_size, c.eval.num_batches = 8, 1
    c.train.progress = False
    return c
