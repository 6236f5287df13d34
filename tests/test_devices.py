"""The same run on 4 devices and on 1, and checkpoints that move between device counts.

Four devices are faked on the CPU with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``,
which must be set before jax is imported, so every run happens in a subprocess that
calls `seqgrad.train.train_and_evaluate` (the function behind ``scripts/train.py``) on
the tiny LSTM of ``experiments/adding.py:lstm`` (T = 10, H = 8, B = 8, 40 steps).

Two layouts of the ``("replica", "data")`` mesh are covered:

- 4 seeds on 4 devices, mesh (4, 1): one replica per device, no communication; on one
  CPU device the replicas run one after the other (``lax.map``) instead of vectorised;
- 1 replica on 4 devices, mesh (1, 4): data parallel, each device takes 2 of the 8
  sequences and the gradients are all-reduced over ``"data"``.

The results must agree to float32 round-off (relative 1e-4), and need not agree bit for
bit: the batch mean of the loss and gradients is summed in another order (four partial
sums, then an all-reduce), and 4 replicas vectorised on 4 devices are computed by
another program than 4 replicas mapped on one, so low-order bits may differ after the
first step and Adam carries them on (measured: relative differences of about 1e-7).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from tests import train_helpers as th

RTOL = 1e-4  # float32 round-off of another summation order
TIMEOUT = 300  # seconds per subprocess; compiling dominates on a shared 2-core CPU

SEEDS4 = {"train.num_seeds": 4}
DATA_PARALLEL = {"train.num_seeds": 1}
HALF = {"train.steps": 20}  # the interrupted run: the first 2 of 4 checkpoints

# Runs the jobs given as JSON in argv[1], in order, in this process (with its device count).
_DRIVER = """
import json, sys
import jax
from seqgrad.train import distributed, train_and_evaluate
from tests import train_helpers as th

th.use_compilation_cache()
out = []
for job in json.loads(sys.argv[1]):
    config = th.tiny_config("lstm", **job["overrides"])
    mesh = distributed.make_mesh(config)
    result = train_and_evaluate(config, job["workdir"])
    out.append({"devices": jax.device_count(), "mesh": [mesh.shape["replica"], mesh.shape["data"]],
                "result": result})
print("RESULT" + json.dumps(out))
"""


def _start(devices: int, jobs: list[tuple[str, dict]]) -> subprocess.Popen:
    """The driver on ``devices`` CPU devices, running ``(workdir, overrides)`` jobs in order."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update(th.CACHE_ENV, JAX_PLATFORMS="cpu", PYTHONPATH=th.ROOT)
    if devices > 1:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    spec = json.dumps([{"workdir": str(w), "overrides": o} for w, o in jobs])
    proc = subprocess.Popen(
        [sys.executable, "-c", _DRIVER, spec],
        cwd=th.ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    return proc


def _finish(*started) -> list[list[dict]]:
    """Waits for every started subprocess; each one's per-job outputs."""
    outs = []
    try:
        for proc in started:
            out, err = proc.communicate(timeout=TIMEOUT)
            assert proc.returncode == 0, err[-4000:]
            outs.append(json.loads(out.split("RESULT", 1)[1]))
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.kill()
    return outs


def _steps_run(result: dict) -> int:
    """Updates this invocation made (not restored from a checkpoint)."""
    return round(result["steps_per_s"] * result["wall_time_s"])


def assert_close(got, ref, where=""):
    """Nested dicts / lists of numbers equal to relative ``RTOL``."""
    if isinstance(ref, dict):
        assert set(got) == set(ref), where
        for k in ref:
            assert_close(got[k], ref[k], f"{where}.{k}")
    elif isinstance(ref, list):
        assert len(got) == len(ref), where
        for i, (g, r) in enumerate(zip(got, ref)):
            assert_close(g, r, f"{where}[{i}]")
    elif isinstance(ref, (int, float)) and not isinstance(ref, bool):
        assert got == pytest.approx(ref, rel=RTOL, abs=1e-7), where
    else:
        assert got == ref, where


def assert_same_run(got_dir, ref_dir):
    """result.json eval values (per replica too) and every metrics row agree to round-off."""
    got, ref = th.result(got_dir), th.result(ref_dir)
    assert got["step"] == ref["step"] == 40
    assert_close(got["eval"], ref["eval"], "eval")
    assert_close(got.get("replicas"), ref.get("replicas"), "replicas")
    rows_got, rows_ref = th.metrics_rows(got_dir), th.metrics_rows(ref_dir)
    assert [r["step"] for r in rows_got] == [r["step"] for r in rows_ref] == [10, 20, 30, 40]
    assert_close(rows_got, rows_ref, "metrics")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Whole runs on 1 and 4 devices, and the first halves that the resume test moves.

    ``{(devices, name): (workdir, output)}``; the 1- and 4-device processes run side by side.
    """
    root = tmp_path_factory.mktemp("devices")
    jobs = {
        1: [("seeds4", SEEDS4), ("data_parallel", DATA_PARALLEL), ("half_seeds4", {**SEEDS4, **HALF})],
        4: [("seeds4", SEEDS4), ("data_parallel", DATA_PARALLEL), ("half_seeds4", {**SEEDS4, **HALF}),
            ("half_data_parallel", {**DATA_PARALLEL, **HALF})],
    }
    started = [_start(n, [(root / f"d{n}_{name}", o) for name, o in jobs[n]]) for n in jobs]
    outs = _finish(*started)
    return {
        (n, name): (root / f"d{n}_{name}", out)
        for n, out_n in zip(jobs, outs)
        for (name, _), out in zip(jobs[n], out_n)
    }


def test_four_fake_devices_equal_one(runs):
    for name, replicas, mesh4 in (("seeds4", 4, [4, 1]), ("data_parallel", 1, [1, 4])):
        (dir1, one), (dir4, four) = runs[1, name], runs[4, name]
        # the layouts really differ: replicas across devices, or the batch split 4 ways
        assert (one["devices"], one["mesh"]) == (1, [1, 1])
        assert (four["devices"], four["mesh"]) == (4, mesh4), name
        assert four["result"]["num_replicas"] == replicas
        assert_same_run(dir4, dir1)
    # the replicas are distinct runs (seeds 0..3), so agreement is not trivial
    losses = [r["eval"]["loss"] for r in th.result(runs[1, "seeds4"][0])["replicas"]]
    assert [r["seed"] for r in th.result(runs[4, "seeds4"][0])["replicas"]] == [0, 1, 2, 3]
    assert len(set(losses)) == 4
    assert all(math.isfinite(v) for v in losses)


def test_a_checkpoint_moves_between_device_counts(runs):
    # 20 steps on one device count, then the same workdir extended to 40 on the other
    moves = {
        1: [("half_seeds4", 4, SEEDS4), ("half_data_parallel", 4, DATA_PARALLEL)],  # 4 -> 1
        4: [("half_seeds4", 1, SEEDS4)],  # 1 -> 4
    }
    started = [
        _start(n, [(runs[origin, name][0], overrides) for name, origin, overrides in moves[n]]) for n in moves
    ]
    outs = _finish(*started)
    for n, out_n in zip(moves, outs):
        for (name, origin, _), out in zip(moves[n], out_n):
            workdir, first = runs[origin, name]
            assert first["result"]["step"] == 20 and first["devices"] == origin
            assert out["devices"] == n
            # resumed from the checkpoint of step 20, not retrained from scratch
            assert out["result"]["step"] == 40 and _steps_run(out["result"]) == 20, (name, origin, n)
            # equal to the uninterrupted run on one device
            ref = "seeds4" if "seeds4" in name else "data_parallel"
            assert_same_run(workdir, runs[1, ref][0])
