"""Pixel-by-pixel digits: scikit-learn's bundled 8x8 handwritten digits, read one pixel per step.

Each 8x8 image (UCI optical digits, 1797 images, values 0–16, shipped inside
scikit-learn so nothing is downloaded) becomes a sequence of ``T = 64`` pixels
``x: [B, 64, 1]`` scaled to [0, 1], in raster order or, with ``permuted=True``,
in a fixed random order drawn from ``permutation_seed`` (the "permuted" variant of
pixel MNIST, Le, Jaitly & Hinton 2015, which spreads neighbouring pixels across
the sequence). The class (10-way) is read out at the last step.

A fixed split (``split_seed``) holds out ``test_fraction`` of the images; training
batches sample the rest with replacement, and evaluation reads the whole held-out
split. The chance level is the class prior of the training split:
``loss = −Σ_c p_test(c) ln p_train(c)`` and ``accuracy = p_test(argmax p_train)``.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from seqgrad.tasks.labelled import LabelledSequences
from seqgrad.checks import positive_int as check_int
from seqgrad.tasks.registry import register

NUM_PIXELS = 64
NUM_CLASSES = 10


@functools.lru_cache(maxsize=8)
def load(permuted: bool, permutation_seed: int, test_fraction: float, split_seed: int):
    """``(train_x [N, 64], train_y [N], test_x [M, 64], test_y [M])`` as numpy arrays."""
    from sklearn.datasets import load_digits  # only this task needs scikit-learn

    data = load_digits()
    images = (data.data / 16.0).astype(np.float32)
    labels = data.target.astype(np.int32)
    if permuted:
        images = images[:, np.random.default_rng(permutation_seed).permutation(NUM_PIXELS)]
    order = np.random.default_rng(split_seed).permutation(len(labels))
    num_test = int(round(test_fraction * len(labels)))
    test, train = order[:num_test], order[num_test:]
    return images[train], labels[train], images[test], labels[test]


@register("digits")
@dataclasses.dataclass(frozen=True)
class Digits(LabelledSequences):
    """8x8 digits read pixel by pixel (T = 64); 10-way classification at the last step
    (batches, evaluation and chance level: `seqgrad.tasks.labelled`)."""

    name = "digits"
    num_classes = NUM_CLASSES

    length: int = NUM_PIXELS
    permuted: bool = False
    permutation_seed: int = 0
    test_fraction: float = 0.2
    split_seed: int = 0

    def __post_init__(self):
        if self.length != NUM_PIXELS:
            raise ValueError(f"task.length={self.length!r} is invalid for digits: an 8x8 image has T = {NUM_PIXELS} pixels")
        if not isinstance(self.permuted, bool):
            raise ValueError(f"task.options.permuted={self.permuted!r} is invalid; valid choices: [True, False]")
        check_int("task.options.permutation_seed", self.permutation_seed, 0)
        check_int("task.options.split_seed", self.split_seed, 0)
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"task.options.test_fraction={self.test_fraction!r} is invalid: it must lie in (0, 1)")

    @property
    def seq_len(self) -> int:
        return NUM_PIXELS

    def data(self):
        return load(self.permuted, self.permutation_seed, self.test_fraction, self.split_seed)
