"""`seqgrad.train.resources`: memory estimates from the config, refused in one line before compiling.

The parameter term is checked against the state the trainer actually builds
(`Trainer.abstract_state`, an independent path through the optimizer); the refusals
use a fixed memory so that they do not depend on the machine running the tests.
"""

from __future__ import annotations

import math
import os
import time

import jax
import ml_collections
import pytest

from seqgrad.train import resources
from seqgrad.train.state import Trainer
from tests import train_helpers as th
from tests.test_cli_errors import ADDING, assert_one_line, run

GB = 10**9
MEMORY = (16 * GB, "in this test")


def _bytes(tree):
    return sum(math.prod(x.shape) * x.dtype.itemsize for x in jax.tree.leaves(tree))


@pytest.mark.parametrize("optimizer,copies", [("adam", 2), ("sgd", 0)])
def test_state_term_is_the_size_of_the_state_the_trainer_builds(optimizer, copies):
    config = th.tiny_config("lstm", **{"optim.name": optimizer, "train.num_seeds": 3})
    state = Trainer(config).abstract_state()
    params = _bytes(state["params"])
    term, size, keys = resources.training_estimate(config)[0]
    replicas_in_flight = 1  # lax.map with train.replica_batch_size=1 on one CPU device
    assert size == params * (1 + copies) + params // 3 * replicas_in_flight
    # The optimizer state holds `copies` copies of the parameters (plus scalars).
    assert _bytes(state["opt_state"]) == pytest.approx(params * copies, abs=1024)
    assert "3 replica(s)" in term and keys["train.num_seeds"] == 3


@pytest.mark.parametrize(
    "key,value,term",
    [
        ("model.hidden_size", 10**6, "Jacobian stacks"),
        ("eval.batch_size", 10**8, "evaluation batches"),
        ("task.length", 10**8, "Jacobian stacks"),
        ("train.num_seeds", 10**6, "parameters and optimizer state"),
    ],
)
def test_hopeless_sizes_are_refused_in_seconds_naming_the_key(key, value, term):
    # H = 64 (the experiment's): 10**6 replicas of the tiny H = 8 model would fit in 16 GB.
    config = th.tiny_config("lstm", **{key: value, "snapshot.every": 10, "model.hidden_size": 64})
    if key == "model.hidden_size":
        config.model.hidden_size = value
    start = time.perf_counter()
    with pytest.raises(ValueError) as err:
        resources.check_training(config, MEMORY)
    assert time.perf_counter() - start < 10
    message = str(err.value)
    assert message.startswith(f"{key}={value} is too large: the estimated memory is ") and "\n" not in message
    assert term in message and "against 16 GB in this test" in message and "train.memory_check=False" in message


def test_a_run_that_fits_passes_and_the_check_can_be_switched_off():
    resources.check_training(th.tiny_config("lstm"), MEMORY)
    big = th.tiny_config("lstm", **{"model.hidden_size": 10**6})
    big.train.memory_check = False
    resources.check_training(big, MEMORY)


def test_exact_analysis_stack_is_refused_and_the_sketch_is_not():
    config = ml_collections.ConfigDict({"method": "exact", "hidden_size": 4096, "T": 128, "float64": False,
                                        "conditions": {"T": (128, 512)}})
    with pytest.raises(ValueError, match=r"^config.hidden_size=4096 is too large: .* 103 GB .*method='sketch'"):
        resources.check_analysis(config, MEMORY)
    config.method = "sketch"
    resources.check_analysis(config, MEMORY)


def test_script_refuses_before_compiling(tmp_path):
    proc = run("train.py", f"--config={ADDING}:lstm", f"--workdir={tmp_path / 'run'}", *th.TINY_FLAGS,
               "--config.model.hidden_size=1000000")
    assert_one_line(proc, 2, "model.hidden_size=1000000 is too large", "train.memory_check=False")
    assert not os.path.exists(tmp_path / "run" / "checkpoints")


def test_sweep_refuses_a_hopeless_point_before_any_point_runs(tmp_path):
    sweep = os.path.join(th.ROOT, "experiments", "clipping_ablation.py")
    proc = run("sweep.py", f"--config={sweep}", f"--workdir={tmp_path / 'sweep'}", "--config.eval.batch_size=100000000")
    assert_one_line(proc, 2, "sweep point", "eval.batch_size=100000000 is too large")
    assert not os.path.exists(tmp_path / "sweep" / "sweep.json")
