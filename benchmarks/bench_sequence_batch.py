"""Jacobian stacks of the main job one sequence at a time against a few at a time, per architecture.

For each entry of ``experiments/gradient_flow.py``, the profile stacks of its C·S·I
sequences (input scales × seeds × inputs; T ∈ ``conditions.T``) run through one
`jax.lax.map` (`seqgrad.jobs.gradient_flow.programs._stacks`), ``config.sequence_batch`` at a time.
The script compiles the stacks at batch 1 and at each ``--batches`` value, runs each
compiled program alternately (``--repeats`` rounds, median), checks that every batch
gives the stacks of batch 1 exactly, and prints run seconds and the ratio
``batch 1 / batch b`` (> 1: batching is faster) beside the batch `programs.sequence_batch`
picks by default.

    python benchmarks/bench_sequence_batch.py                           # every entry, batches 9 and 45
    python benchmarks/bench_sequence_batch.py --entries rnn,lstm,transformer --batches 3,9
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from experiments import gradient_flow  # noqa: E402
from seqgrad.jobs.gradient_flow import programs  # noqa: E402
from seqgrad.jobs.gradient_flow import config as config_lib  # noqa: E402
from seqgrad.jobs.gradient_flow import entries as entries_lib  # noqa: E402
from seqgrad.jobs.gradient_flow import inputs  # noqa: E402
def stacks_program(entry, config, batch: int):
    """The compiled stacks at ``batch`` sequences per map step, and its arguments."""
    config = config.copy_and_resolve_references()
    config.sequence_batch = batch
    dtype, keys, scales = inputs.measurement_inputs(entry, config)
    params = inputs.params_fn(entry, config, dtype)(keys)
    w = config_lib.windows(config)
    data = inputs.data_fn(entry, config, dtype, w.sequence_length)(keys)
    fn = jax.jit(lambda p, xs, s: programs._stacks(entry, config, w, p, xs, s))
    return fn.lower(params, data["xs"], scales).compile(), (params, data["xs"], scales)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", default="", help="comma-separated entries (default: all)")
    parser.add_argument("--batches", default="9,45", help="batch sizes compared with 1")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    config = gradient_flow.get_config(args.entries or None)
    batches = [int(b) for b in args.batches.split(",") if b]
    entries = [e for e in entries_lib.build_entries(config) if e.method == "exact"]
    print(f"{'entry':24s} {'parallel':9s} {'auto':>4s} {'b=1 s':>7s} " +
          " ".join(f"{'b=' + str(b) + ' s':>8s} {'ratio':>6s}" for b in batches))
    for entry in entries:
        compiled = {b: stacks_program(entry, config, b) for b in [1] + batches}
        reference = jax.block_until_ready(compiled[1][0](*compiled[1][1]))
        for b in batches:
            out = compiled[b][0](*compiled[b][1])
            for T in reference:
                np.testing.assert_array_equal(np.asarray(out[T]), np.asarray(reference[T]))
        times = {b: [] for b in compiled}
        for _ in range(args.repeats):
            for b, (program, call_args) in compiled.items():
                start = time.perf_counter()
                jax.block_until_ready(program(*call_args))
                times[b].append(time.perf_counter() - start)
        median = {b: float(np.median(t)) for b, t in times.items()}
        auto = programs.sequence_batch(entry, config)
        print(f"{entry.name:24s} {entry.info.parallel:9s} {auto:4d} {median[1]:7.2f} " +
              " ".join(f"{median[b]:8.2f} {median[1] / median[b]:6.2f}" for b in batches), flush=True)


if __name__ == "__main__":
    main()
