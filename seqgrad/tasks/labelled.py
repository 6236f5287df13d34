"""Tasks over a fixed labelled data set: one value per step, the class read out at the last step.

A subclass sets ``num_classes`` and `data()` -> ``(train_x [N, T], train_y [N],
test_x [M, T], test_y [M])`` (numpy; cached by the subclass). Then:

    batch(key, B)       B training examples drawn with replacement:
                        x [B, T, 1], targets [B, T] (the label at the last step), mask = [t = T-1]
    eval_batch(...)     the whole held-out split, the same layout (``eval_is_fixed``)
    baseline()          the class prior of the training split scored on the held-out split:
                        loss = −Σ_c p_test(c) ln p_train(c),  accuracy = p_test(argmax p_train)
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from seqgrad.tasks.base import Task


@dataclasses.dataclass(frozen=True)
class LabelledSequences(Task):
    """Base of the data-set tasks (`digits`, `mnist1d`): classification at the last step."""

    kind: ClassVar[str] = "classification"
    metric: ClassVar[str] = "accuracy"
    eval_is_fixed: ClassVar[bool] = True  # evaluation reads the whole held-out split
    num_classes: ClassVar[int] = 10

    def data(self):
        """``(train_x [N, T], train_y [N], test_x [M, T], test_y [M])`` as numpy arrays."""
        raise NotImplementedError

    @property
    def input_dim(self) -> int:
        return 1

    @property
    def output_dim(self) -> int:
        return self.num_classes

    def _sequences(self, values, labels):
        steps = values.shape[1]
        last = jnp.arange(steps) == steps - 1
        targets = jnp.where(last, labels[:, None], 0).astype(jnp.int32)
        mask = jnp.broadcast_to(last.astype(jnp.float32), targets.shape)
        return values[..., None], targets, mask

    def batch(self, key, batch_size):
        train_x, train_y, _, _ = self.data()
        index = jax.random.randint(key, (batch_size,), 0, len(train_y))
        return self._sequences(jnp.asarray(train_x)[index], jnp.asarray(train_y)[index])

    def eval_batch(self, key, batch_size):
        del key, batch_size
        _, _, test_x, test_y = self.data()
        return self._sequences(jnp.asarray(test_x), jnp.asarray(test_y))

    def baseline(self):
        """The class prior of the training split, scored on the held-out split."""
        _, train_y, _, test_y = self.data()
        prior = np.bincount(train_y, minlength=self.num_classes) / len(train_y)
        freq = np.bincount(test_y, minlength=self.num_classes) / len(test_y)
        return {
            "loss": float(-np.sum(freq * np.log(prior))),
            "accuracy": float(freq[int(np.argmax(prior))]),
        }
