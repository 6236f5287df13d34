"""Multi-query associative recall, MQAR (Arora et al. 2023, "Zoology", Section 3).

With ``P = num_pairs`` key–value pairs, ``Q = num_queries`` queries, ``K_k =
num_keys`` keys and ``K_v = num_values`` values, the model reads ``T = length``
tokens:

    steps 0 … 2P−1:     k_1 v_1 k_2 v_2 … k_P v_P      (P distinct keys, values i.i.d. uniform)
    steps 2P … T−Q−1:   the blank token
    steps T−Q … T−1:    Q distinct keys of the context, in random order; the
                        target at each is the value paired with that key

Tokens are one-hot over ``1 + K_k + K_v`` channels (blank, keys, values), so
``x: [B, T, 1 + K_k + K_v]``; outputs are ``K_v`` classes, scored at the Q query
steps only. The values are independent of the keys, so a model without memory of
the context scores the chance level

    CE = ln K_v,    accuracy = 1/K_v.

The first query sits ``T − 2P − Q + 1`` steps after the last pair: ``length``
sets the recall distance.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from seqgrad.checks import positive_int as check_int
from seqgrad.tasks.base import Task
from seqgrad.tasks.registry import register


@register("associative_recall")
@dataclasses.dataclass(frozen=True)
class AssociativeRecall(Task):
    """P key–value pairs, then Q queries of earlier keys; K_v-way classification at the queries."""

    name = "associative_recall"
    kind = "classification"
    metric = "accuracy"

    length: int = 64
    num_pairs: int = 4
    num_queries: int = 4
    num_keys: int = 8
    num_values: int = 8

    def __post_init__(self):
        check_int("task.options.num_pairs", self.num_pairs, 1)
        check_int("task.options.num_queries", self.num_queries, 1)
        check_int("task.options.num_values", self.num_values, 2)
        check_int("task.options.num_keys", self.num_keys, self.num_pairs, "the pairs need distinct keys")
        if self.num_queries > self.num_pairs:
            raise ValueError(
                f"task.options.num_queries={self.num_queries!r} is invalid: it must be <= num_pairs={self.num_pairs}"
            )
        need = 2 * self.num_pairs + self.num_queries
        check_int("task.length", self.length, need, "2·num_pairs + num_queries steps")

    @property
    def seq_len(self) -> int:
        return self.length

    @property
    def input_dim(self) -> int:
        return 1 + self.num_keys + self.num_values

    @property
    def output_dim(self) -> int:
        return self.num_values

    def batch(self, key, batch_size):
        T, P, Q = self.length, self.num_pairs, self.num_queries
        k_keys, k_vals, k_query = jax.random.split(key, 3)
        # Distinct keys: the first P of a random permutation of the K_k keys (argsort of uniforms).
        keys = jnp.argsort(jax.random.uniform(k_keys, (batch_size, self.num_keys)), axis=1)[:, :P]
        values = jax.random.randint(k_vals, (batch_size, P), 0, self.num_values)
        asked = jnp.argsort(jax.random.uniform(k_query, (batch_size, P)), axis=1)[:, :Q]  # which pairs
        key_tok = 1 + keys
        val_tok = 1 + self.num_keys + values
        context = jnp.stack([key_tok, val_tok], axis=2).reshape(batch_size, 2 * P)
        blanks = jnp.zeros((batch_size, T - 2 * P - Q), jnp.int32)
        queries = jnp.take_along_axis(key_tok, asked, axis=1)
        tokens = jnp.concatenate([context, blanks, queries], axis=1)
        inputs = jax.nn.one_hot(tokens, self.input_dim, dtype=jnp.float32)
        answers = jnp.take_along_axis(values, asked, axis=1)
        targets = jnp.concatenate([jnp.zeros((batch_size, T - Q), jnp.int32), answers], axis=1)
        query_steps = (jnp.arange(T) >= T - Q).astype(jnp.float32)
        mask = jnp.broadcast_to(query_steps, (batch_size, T))
        return inputs, targets, mask

    def baseline(self):
        """Values are independent of the keys: uniform guess, CE = ln K_v, accuracy = 1/K_v."""
        return {"loss": math.log(self.num_values), "accuracy": 1.0 / self.num_values}
