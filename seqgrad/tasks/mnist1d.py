"""MNIST-1D (Greydanus 2020, "Scaling down deep learning"), read one value per step.

The `mnist1d` package's own generator (``mnist1d.data.make_dataset``) builds the
data set locally from its ten hand-made 1-D templates (padding, translation,
scaling, shear, correlated and i.i.d. noise): 5000 sequences of ``T = 40``
values, centred and scaled to unit variance, split 4000 train / 1000 held-out.
Nothing is downloaded (the package's ``get_dataset`` download path is never
called). With ``shuffled=True`` the 40 positions are read in one fixed random
order (the package's ``shuffle_seq``), which destroys the spatial structure:
published held-out accuracy of a GRU falls from 91 % to 57 %.

``x: [B, 40, 1]``; the class (10-way) is read out at the last step
(`LabelledSequences`). Training batches sample the 4000 training sequences with
replacement; evaluation reads the 1000 held-out ones. The chance level is the class prior of the training split
scored on the held-out split: ``loss = −Σ_c p_test(c) ln p_train(c)``,
``accuracy = p_test(argmax p_train)`` (close to ln 10 and 10 %).

Published held-out accuracies (Greydanus 2020, Table 1): logistic regression 32 %,
MLP 68 %, CNN 94 %, GRU 91 %; shuffled GRU 57 %.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from seqgrad.tasks.labelled import LabelledSequences
from seqgrad.checks import positive_int as check_int
from seqgrad.tasks.registry import register

SEQ_LEN = 40
NUM_CLASSES = 10


@functools.lru_cache(maxsize=4)
def load(shuffled: bool, data_seed: int):
    """``(train_x [4000, 40], train_y [4000], test_x [1000, 40], test_y [1000])`` (float32, int32).

    ``make_dataset`` reseeds NumPy's and Python's global generators; their states
    are restored afterwards so that generating the data changes nothing else.
    """
    import random

    from mnist1d import data as mnist1d_data  # only this task needs the package

    args = mnist1d_data.get_dataset_args()
    args.shuffle_seq = bool(shuffled)
    args.seed = int(data_seed)
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        ds = mnist1d_data.make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return (
        ds["x"].astype(np.float32),
        ds["y"].astype(np.int32),
        ds["x_test"].astype(np.float32),
        ds["y_test"].astype(np.int32),
    )


@register("mnist1d")
@dataclasses.dataclass(frozen=True)
class Mnist1D(LabelledSequences):
    """MNIST-1D (T = 40), optionally with the positions shuffled; 10-way classification at the last step."""

    name = "mnist1d"
    num_classes = NUM_CLASSES

    length: int = SEQ_LEN
    shuffled: bool = False
    data_seed: int = 42  # the package's default seed

    def __post_init__(self):
        if self.length != SEQ_LEN:
            raise ValueError(f"task.length={self.length!r} is invalid for mnist1d: its sequences have T = {SEQ_LEN}")
        if not isinstance(self.shuffled, bool):
            raise ValueError(f"task.options.shuffled={self.shuffled!r} is invalid; valid choices: [True, False]")
        check_int("task.options.data_seed", self.data_seed, 0)

    @property
    def seq_len(self) -> int:
        return SEQ_LEN

    def data(self):
        return load(self.shuffled, self.data_seed)
