"""The copy memory task (Hochreiter & Schmidhuber 1997; the form of Arjovsky, Shah & Bengio 2016).

With delay ``T`` (``task.length``) the model reads ``T + 20`` symbols:

    input:   s_1 … s_10   0 … 0 (T − 1 blanks)   9 (the cue)   0 … 0 (10 blanks)
    target:  0 … 0 (T + 10 blanks)                              s_1 … s_10

with ``s_i`` uniform over the 8 symbols ``{1, …, 8}``, symbol 0 the blank and 9
the cue to start writing. Inputs are one-hot over 10 symbols, ``x: [B, T + 20, 10]``;
outputs are 9 classes (blank and the 8 symbols); the loss is the cross-entropy
averaged over all ``T + 20`` steps. A memoryless model predicts the blanks
exactly and a uniform guess over the 8 symbols at the 10 output steps, scoring

    CE = 10 · ln 8 / (T + 20)        (0.0204 at T = 1000)

and accuracy ``(T + 10 + 10/8) / (T + 20)``.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from seqgrad.checks import positive_int as check_int
from seqgrad.tasks.base import Task
from seqgrad.tasks.registry import register

NUM_COPIED = 10
NUM_SYMBOLS = 8
CUE = NUM_SYMBOLS + 1


@register("copy")
@dataclasses.dataclass(frozen=True)
class Copy(Task):
    """Copy memory with delay T = ``length`` (>= 1); classification over 9 classes, all steps scored."""

    name = "copy"
    kind = "classification"
    metric = "accuracy"

    length: int = 100

    def __post_init__(self):
        check_int("task.length", self.length, 1, "the copy delay T needs at least the cue step")

    @property
    def seq_len(self) -> int:
        return self.length + 2 * NUM_COPIED

    @property
    def input_dim(self) -> int:
        return NUM_SYMBOLS + 2

    @property
    def output_dim(self) -> int:
        return NUM_SYMBOLS + 1

    def batch(self, key, batch_size):
        T = self.length
        symbols = jax.random.randint(key, (batch_size, NUM_COPIED), 1, NUM_SYMBOLS + 1)
        blanks = jnp.zeros((batch_size, T - 1), jnp.int32)
        cue = jnp.full((batch_size, 1), CUE, jnp.int32)
        tail = jnp.zeros((batch_size, NUM_COPIED), jnp.int32)
        tokens = jnp.concatenate([symbols, blanks, cue, tail], axis=1)
        targets = jnp.concatenate([jnp.zeros((batch_size, T + NUM_COPIED), jnp.int32), symbols], axis=1)
        inputs = jax.nn.one_hot(tokens, self.input_dim, dtype=jnp.float32)
        mask = jnp.ones(targets.shape, jnp.float32)
        return inputs, targets, mask

    def baseline(self):
        """Memoryless: exact blanks, uniform over 8 symbols at the 10 output steps."""
        steps = self.seq_len
        return {
            "loss": NUM_COPIED * math.log(NUM_SYMBOLS) / steps,
            "accuracy": (steps - NUM_COPIED + NUM_COPIED / NUM_SYMBOLS) / steps,
        }
