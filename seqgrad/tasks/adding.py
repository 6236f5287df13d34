"""The adding problem (Hochreiter & Schmidhuber 1997; the variant of Le, Jaitly & Hinton 2015).

Input ``x: [B, T, 2]``: channel 0 holds values ``u_t ~ U(0, 1)``; channel 1 marks
two positions, one drawn uniformly from the first half ``[0, ⌊T/2⌋)`` and one from
the second half ``[⌊T/2⌋, T)``. The target, read out at the last step, is the sum
of the two marked values. The constant predictor ``y = E[u_a + u_b] = 1`` scores

    MSE = Var(u_a + u_b) = 2 · 1/12 = 1/6 ≈ 0.1667,

so a model that does not carry the first marked value across up to T steps stays
near 1/6.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from seqgrad.checks import positive_int as check_int
from seqgrad.tasks.base import Task
from seqgrad.tasks.registry import register


@register("adding")
@dataclasses.dataclass(frozen=True)
class Adding(Task):
    """Adding problem of length ``length`` (T >= 2); regression, metric MSE."""

    name = "adding"
    kind = "regression"
    metric = "mse"

    length: int = 100

    @property
    def seq_len(self) -> int:
        return self.length

    def __post_init__(self):
        check_int("task.length", self.length, 2, "the adding problem needs one marker in each half")

    @property
    def input_dim(self) -> int:
        return 2

    @property
    def output_dim(self) -> int:
        return 1

    def batch(self, key, batch_size):
        T, half = self.length, self.length // 2
        k_val, k_first, k_second = jax.random.split(key, 3)
        values = jax.random.uniform(k_val, (batch_size, T))
        first = jax.random.randint(k_first, (batch_size,), 0, half)
        second = jax.random.randint(k_second, (batch_size,), half, T)
        steps = jnp.arange(T)
        markers = (steps == first[:, None]) | (steps == second[:, None])
        inputs = jnp.stack([values, markers.astype(values.dtype)], axis=-1)
        total = jnp.sum(values * markers, axis=1)
        last = (steps == T - 1).astype(values.dtype)
        targets = total[:, None] * last
        mask = jnp.broadcast_to(last, (batch_size, T))
        return inputs, targets, mask

    def baseline(self):
        """The constant predictor 1.0: MSE = Var(U1 + U2) = 1/6."""
        return {"loss": 1.0 / 6.0, "mse": 1.0 / 6.0}
