"""Delayed recall: report the first token after T steps.

With ``K = num_symbols`` and delay ``T`` (``task.length``) the model reads ``T + 1``
steps, ``x: [B, T + 1, K + 1]``:

    step 0:          the token to remember, a ~ U{0, …, K−1}      (one-hot, channel a)
    steps 1 … T−1:   distractor tokens, uniform over the same K   (blanks if distractors=False)
    step T:          the query (channel K), no token

and must output ``a`` at step T (K-way classification, scored at that step only).
A model without memory of step 0 scores the chance level: cross-entropy ``ln K``,
accuracy ``1/K``. With distractors, the information sits T steps back behind T − 1
tokens of the same kind, so only a state that keeps it across the whole delay helps.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from seqgrad.checks import positive_int as check_int
from seqgrad.tasks.base import Task
from seqgrad.tasks.registry import register


@register("delayed_recall")
@dataclasses.dataclass(frozen=True)
class DelayedRecall(Task):
    """Recall the token of step 0 at step T = ``length`` (>= 1); K-way classification."""

    name = "delayed_recall"
    kind = "classification"
    metric = "accuracy"

    length: int = 100
    num_symbols: int = 8
    distractors: bool = True

    def __post_init__(self):
        check_int("task.length", self.length, 1, "the recall needs a delay of at least one step")
        check_int("task.options.num_symbols", self.num_symbols, 2)
        if not isinstance(self.distractors, bool):
            raise ValueError(f"task.options.distractors={self.distractors!r} is invalid: valid choices: [True, False]")

    @property
    def seq_len(self) -> int:
        return self.length + 1

    @property
    def input_dim(self) -> int:
        return self.num_symbols + 1

    @property
    def output_dim(self) -> int:
        return self.num_symbols

    def batch(self, key, batch_size):
        T, K = self.length, self.num_symbols
        tokens = jax.random.randint(key, (batch_size, T), 0, K)
        steps = jnp.arange(T)
        visible = (steps == 0) | self.distractors
        x = jax.nn.one_hot(tokens, K + 1, dtype=jnp.float32) * visible[None, :, None]
        query = jax.nn.one_hot(jnp.full((batch_size, 1), K), K + 1, dtype=jnp.float32)
        inputs = jnp.concatenate([x, query], axis=1)
        last = jnp.arange(T + 1) == T
        targets = jnp.where(last, tokens[:, :1], 0).astype(jnp.int32)
        mask = jnp.broadcast_to(last.astype(jnp.float32), targets.shape)
        return inputs, targets, mask

    def baseline(self):
        """Uniform guess over K symbols: CE = ln K, accuracy = 1/K."""
        return {"loss": math.log(self.num_symbols), "accuracy": 1.0 / self.num_symbols}
