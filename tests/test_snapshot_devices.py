"""Gradient-flow snapshots on several devices: no hang, no gather, the right numbers.

`seqgrad.train.snapshot.spectral_norm` is checked against a float64 NumPy SVD on one
device. Then, on 2 and 4 fake CPU devices (``XLA_FLAGS`` set before jax is imported,
so in subprocesses with a timeout: a deadlock fails the test instead of hanging it),
for 1, 2 and 4 seeds: the compiled snapshot holds no collective, and every replica's
norms equal NumPy's ‖∂h_{T-1}/∂h_t‖₂ of `seqgrad.gradflow.state_jacobians` computed
for that replica alone on one device. Finally the command that used to hang
(``scripts/train.py`` on 2 devices, 2 seeds, snapshots on) must finish.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad.train.snapshot import spectral_norm
from tests import train_helpers as th

TIMEOUT = 240  # seconds per subprocess (compiling on a shared 2-core CPU); a hang exceeds it


def _spectrum(rng, n, singular_values):
    u, _ = np.linalg.qr(rng.standard_normal((n, n)))
    v, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (u * singular_values) @ v.T


@pytest.mark.parametrize("n", [1, 3, 16, 64])
def test_spectral_norm_matches_svd(n):
    rng = np.random.default_rng(n)
    cases = [
        rng.standard_normal((n, n)),
        _spectrum(rng, n, np.r_[1.0, np.full(n - 1, 0.999)][:n]),  # gap 0.1 %
        _spectrum(rng, n, np.r_[np.ones((n + 1) // 2), np.full(n // 2, 0.5)][:n]),  # repeated top value
        1e-30 * rng.standard_normal((n, n)),  # vanishing: would underflow in JᵀJ unscaled
        np.outer(rng.standard_normal(n), rng.standard_normal(n)),  # rank one
        rng.standard_normal((n, n)) * 1e20,
    ]
    jac = np.stack(cases).astype(np.float32)
    got = np.asarray(spectral_norm(jnp.asarray(jac)))
    want = np.linalg.norm(jac.astype(np.float64), ord=2, axis=(1, 2))
    # float32 round-off of a few matrix products (measured worst: 2e-7).
    np.testing.assert_allclose(got, want, rtol=2e-6)
    assert float(spectral_norm(jnp.zeros((n, n)))) == 0.0


# Runs in a subprocess with N fake devices: for each seed count, the snapshot of a fresh
# tiny LSTM state, its compiled text, and a one-device float64 NumPy reference.
_DRIVER = """
import json, sys, time
import jax, numpy as np
from seqgrad.gradflow import state_jacobians
from seqgrad.train import distributed, state
from tests import train_helpers as th

th.use_compilation_cache()
out = []
for seeds in json.loads(sys.argv[1]):
    config = th.tiny_config("lstm", **{"train.num_seeds": seeds, "snapshot.every": 5})
    mesh = distributed.make_mesh(config)
    trainer = state.Trainer(config, mesh=mesh)
    s = trainer.init()
    t0 = time.perf_counter()
    norms = np.asarray(jax.device_get(trainer.snapshot(s)))
    seconds = time.perf_counter() - t0
    hlo = trainer._snapshot.lower(s["params"], s["key"]).compile().as_text()
    host = jax.device_get(s)
    errors = []
    for r in range(seeds):
        params = jax.tree.map(lambda x: x[r], host["params"])
        key = jax.random.fold_in(jax.random.wrap_key_data(host["key"][r]), state.SNAPSHOT)
        x = trainer.task.eval_batch(key, 1)[0][0]
        jac = np.asarray(state_jacobians(trainer.model, params["model"], x), np.float64)
        ref = np.linalg.norm(jac, ord=2, axis=(1, 2))[::-1]
        errors.append(float(np.max(np.abs(norms[r] - ref) / np.maximum(ref, 1e-30))))
    collectives = [op for op in ("all-gather", "all-reduce", "all-to-all", "collective-permute") if op in hlo]
    out.append({"seeds": seeds, "mesh": [mesh.shape["replica"], mesh.shape["data"]], "shape": list(norms.shape),
                "errors": errors, "collectives": collectives, "seconds": seconds})
print("RESULT" + json.dumps(out))
"""


def _env(devices):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update(th.CACHE_ENV, JAX_PLATFORMS="cpu", PYTHONPATH=th.ROOT)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    return env


@pytest.mark.parametrize("devices", [2, 4])
def test_snapshot_on_devices_is_local_and_exact(devices):
    seeds = [1, 2, 4]
    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER, json.dumps(seeds)],
        cwd=th.ROOT, env=_env(devices), capture_output=True, text=True, timeout=TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    rows = json.loads(proc.stdout.split("RESULT", 1)[1])
    for row in rows:
        assert row["shape"] == [row["seeds"], th.TINY["task.length"]], row
        assert row["collectives"] == [], row
        assert max(row["errors"]) < 1e-5, row
        print(f"devices={devices} seeds={row['seeds']} mesh={row['mesh']} snapshot {row['seconds']:.2f} s")


def test_train_script_with_snapshots_on_two_devices_finishes(tmp_path):
    """The command that hung: 2 devices, 2 seeds, a snapshot at steps 0, 20 and 40."""
    cmd = [
        sys.executable, os.path.join(th.ROOT, "scripts", "train.py"),
        f"--config={os.path.join(th.ROOT, 'experiments', 'adding.py')}:lstm", f"--workdir={tmp_path}",
        *th.TINY_FLAGS, "--config.train.num_seeds=2", "--config.snapshot.every=20",
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=th.ROOT, env=_env(2), capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    rows = [json.loads(line) for line in open(tmp_path / "gradflow.jsonl")]
    assert [r["step"] for r in rows] == [0, 20, 40]
    assert all(np.shape(r["replicas"]) == (2, th.TINY["task.length"]) for r in rows)
    print(f"train.py 2 devices x 2 seeds with snapshots: {time.perf_counter() - start:.1f} s")
