"""16 replicas in one program vs 16 sequential runs of the same config, side by side.

LSTM on the adding problem (T = 100, H = 64, B = 32), the training step of
`seqgrad.train.state.Trainer` (forward, backward, clipping, Adam), ``--steps`` steps
per call. Each execution choice of ``train.replica_execution`` is timed against
the same 16 runs one after the other (one replica each, the same compiled program
for every seed), interleaved round by round so that load on a shared machine hits
every column alike; the table gives the median over rounds.

    python benchmarks/bench_replicas.py [--replicas 16] [--steps 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax

from seqgrad.train import config as cfg
from seqgrad.train.state import Trainer


def config(replicas: int, execution: str, map_batch: int = 1):
    c = cfg.base_config()
    cfg.set_task(c, "adding", 100)
    cfg.set_model(c, "lstm")
    c.model.hidden_size = 64
    c.train.batch_size = 32
    c.train.num_seeds = replicas
    c.train.replica_execution = execution
    c.train.replica_batch_size = map_batch
    return c


def timed(trainer: Trainer, state, steps: int):
    start = time.perf_counter()
    state, metrics = trainer.train_chunk(state, steps)
    jax.block_until_ready(metrics)
    return state, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--map-batches", default="1,4", help="lax.map batch sizes to time")
    args = parser.parse_args()
    R, K = args.replicas, args.steps

    choices = {"vmap": config(R, "vmap")}
    for b in (int(v) for v in args.map_batches.split(",")):
        choices[f"map (batch_size={b})"] = config(R, "map", b)
    sequential = Trainer(config(1, "vmap"))
    trainers = {name: Trainer(c) for name, c in choices.items()}

    # Compile (and warm up) everything first.
    seq_states = []
    for seed in range(R):
        c = config(1, "vmap")
        c.train.seed = seed
        seq_states.append(Trainer(c).init())
    seq_states[0], _ = timed(sequential, seq_states[0], K)
    states = {name: timed(t, t.init(), K)[0] for name, t in trainers.items()}

    times = {name: [] for name in ["sequential"] + list(trainers)}
    for _ in range(args.rounds):
        total = 0.0
        for i in range(R):
            seq_states[i], dt = timed(sequential, seq_states[i], K)
            total += dt
        times["sequential"].append(total)
        for name, t in trainers.items():
            states[name], dt = timed(t, states[name], K)
            times[name].append(dt)

    device = jax.devices()[0]
    print(f"{R} replicas x {K} steps, LSTM adding T=100 H=64 B=32, {device.platform} ({device.device_kind}), "
          f"{jax.device_count()} device(s), median of {args.rounds} rounds\n")
    base = statistics.median(times["sequential"])
    print("| execution | time (s) | replica-steps/s | vs sequential |")
    print("|---|---|---|---|")
    for name, values in times.items():
        t = statistics.median(values)
        label = f"{R} sequential runs" if name == "sequential" else f"{R} replicas, {name}"
        print(f"| {label} | {t:.2f} | {R * K / t:.1f} | {base / t:.2f}x |")


if __name__ == "__main__":
    main()
