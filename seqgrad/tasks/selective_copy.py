"""Selective copying (Gu & Dao 2023, "Mamba", Section 3.1).

With ``T = length`` content steps, ``M = num_tokens`` and ``K = num_symbols`` the
model reads ``T + M`` tokens:

    steps 0 … T−1:     M data tokens s_1 … s_M at M distinct random positions
                       (in order of position), the noise token 0 everywhere else
    steps T … T+M−1:   the marker token K+1; at step T+i the target is s_{i+1}

with ``s_i ~ U{1, …, K}`` i.i.d. and the positions a uniformly random M-subset of
``{0, …, T−1}``. Unlike ``copy``, where the tokens sit at fixed steps, the model
must select the tokens by content and skip the noise. Inputs are one-hot over
``K + 2`` tokens, ``x: [B, T + M, K + 2]``; outputs are K classes (target
``s − 1``), scored at the M marker steps only. A model that does not remember the
content guesses uniformly, so the chance level is

    CE = ln K,    accuracy = 1/K.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from seqgrad.checks import positive_int as check_int
from seqgrad.tasks.base import Task
from seqgrad.tasks.registry import register


@register("selective_copy")
@dataclasses.dataclass(frozen=True)
class SelectiveCopy(Task):
    """Copy M tokens scattered among T noise steps, in order, after the marker; K-way classification."""

    name = "selective_copy"
    kind = "classification"
    metric = "accuracy"

    length: int = 100
    num_tokens: int = 4
    num_symbols: int = 8

    def __post_init__(self):
        check_int("task.options.num_tokens", self.num_tokens, 1)
        check_int("task.options.num_symbols", self.num_symbols, 2)
        check_int("task.length", self.length, self.num_tokens, "the content steps must hold num_tokens distinct positions")

    @property
    def seq_len(self) -> int:
        return self.length + self.num_tokens

    @property
    def input_dim(self) -> int:
        return self.num_symbols + 2

    @property
    def output_dim(self) -> int:
        return self.num_symbols

    @property
    def marker(self) -> int:
        return self.num_symbols + 1

    def batch(self, key, batch_size):
        T, M, K = self.length, self.num_tokens, self.num_symbols
        k_pos, k_sym = jax.random.split(key)
        # A uniformly random M-subset per row: the M smallest of T i.i.d. uniforms, sorted.
        positions = jnp.sort(jnp.argsort(jax.random.uniform(k_pos, (batch_size, T)), axis=1)[:, :M], axis=1)
        symbols = jax.random.randint(k_sym, (batch_size, M), 1, K + 1)
        rows = jnp.arange(batch_size)[:, None]
        content = jnp.zeros((batch_size, T), jnp.int32).at[rows, positions].set(symbols)
        tokens = jnp.concatenate([content, jnp.full((batch_size, M), self.marker, jnp.int32)], axis=1)
        inputs = jax.nn.one_hot(tokens, self.input_dim, dtype=jnp.float32)
        targets = jnp.concatenate([jnp.zeros((batch_size, T), jnp.int32), symbols - 1], axis=1)
        answer = (jnp.arange(T + M) >= T).astype(jnp.float32)
        mask = jnp.broadcast_to(answer, (batch_size, T + M))
        return inputs, targets, mask

    def baseline(self):
        """Uniform guess over K symbols at the M answer steps: CE = ln K, accuracy = 1/K."""
        return {"loss": math.log(self.num_symbols), "accuracy": 1.0 / self.num_symbols}
