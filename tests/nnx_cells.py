"""A user's Flax NNX cell, importable as ``tests.nnx_cells:Leaky`` (by the tests' subprocesses too)."""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx


class Leaky(nnx.RNNCellBase):
    """``h_t = (1 − leak) h_{t−1} + leak · tanh(x_t U + b + h_{t−1} W)``: ``x_t [.., D] -> h_t [.., H]``."""

    def __init__(self, in_features: int, hidden_features: int, *, leak: float = 0.5, rngs: nnx.Rngs):
        self.leak, self.hidden_features = leak, hidden_features
        self.u = nnx.Linear(in_features, hidden_features, rngs=rngs)
        self.w = nnx.Linear(hidden_features, hidden_features, use_bias=False, rngs=rngs)

    def __call__(self, carry, x):
        h = (1 - self.leak) * carry + self.leak * jnp.tanh(self.u(x) + self.w(carry))
        return h, h

    def initialize_carry(self, input_shape, rngs=None):
        return jnp.zeros(input_shape[:-1] + (self.hidden_features,))

    @property
    def num_feature_axes(self) -> int:
        return 1


def make_leaky(in_features: int, hidden_features: int, *, rngs: nnx.Rngs, leak: float = 0.5) -> Leaky:
    """A factory with a cell class's signature: ``nnx:tests.nnx_cells:make_leaky``."""
    return Leaky(in_features, hidden_features, leak=leak, rngs=rngs)
