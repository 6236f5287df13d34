"""Two processes on 127.0.0.1 (JAX's distributed runtime, CPU collectives) equal one process.

``scripts/train.py --coordinator_address=127.0.0.1:PORT --num_processes=2 --process_id=I``
starts ``jax.distributed``; the mesh then spans both processes' devices. The batch
axis is split across the processes (``mesh.data=2``), so every step all-reduces the
gradients between them: the result must equal the 1-process run to float32 round-off
(a different summation order), and only process 0 writes metrics and results.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 400  # seconds; compile time dominates, and the CPU is shared

EXPERIMENT = textwrap.dedent(
    """
    from seqgrad.train import config as cfg


    def get_config(arg=None):
        c = cfg.base_config()
        cfg.set_task(c, "adding", 8)
        cfg.set_model(c, "lstm")
        c.model.hidden_size = 8
        c.train.steps = 4
        c.train.batch_size = 4
        c.train.num_seeds = 2
        c.train.steps_per_dispatch = 2
        c.train.progress = False
        c.checkpoint.every = 2
        c.eval.batch_size = 16
        c.eval.num_batches = 1
        c.lock()
        return c
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train(config: str, workdir: str, *extra: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "OMPI_", "XLA_FLAGS"))}
    env["JAX_PLATFORMS"] = "cpu"
    cmd = [sys.executable, os.path.join(ROOT, "scripts", "train.py"), f"--config={config}", f"--workdir={workdir}", *extra]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait(procs):
    outs = []
    try:
        for p in procs:
            out, _ = p.communicate(timeout=TIMEOUT)
            outs.append(out)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out[-4000:]
    return outs


def _rows(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_two_processes_equal_one(tmp_path):
    config = tmp_path / "tiny.py"
    config.write_text(EXPERIMENT)
    one, two = tmp_path / "one", tmp_path / "two"
    port = _free_port()
    flags = [f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2", "--config.mesh.data=2"]
    procs = [
        _train(str(config), str(one)),
        *(_train(str(config), str(two), *flags, f"--process_id={i}") for i in range(2)),
    ]
    _wait(procs)

    ref = json.loads((one / "result.json").read_text())
    got = json.loads((two / "result.json").read_text())
    assert got["step"] == ref["step"] == 4
    assert len(got["replicas"]) == len(ref["replicas"]) == 2
    # float32 round-off: the batch mean is summed in two halves, then all-reduced
    for r_got, r_ref in zip(got["replicas"], ref["replicas"]):
        assert r_got["seed"] == r_ref["seed"]
        for k, v in r_ref["eval"].items():
            assert r_got["eval"][k] == pytest.approx(v, rel=1e-4), k
    # process 0 alone writes the metrics: one row per chunk, as in the 1-process run
    rows_ref, rows_got = _rows(one / "metrics.jsonl"), _rows(two / "metrics.jsonl")
    assert [r["step"] for r in rows_got] == [r["step"] for r in rows_ref] == [2, 4]
    for a, b in zip(rows_got, rows_ref):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
        assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-4)
    # the checkpoints of the 2-process run are complete: both saved steps are there
    assert {"2", "4"} <= set(os.listdir(two / "checkpoints"))
