"""The device mesh, its shardings, and multi-process start-up (`seqgrad.train.distributed`).

Several devices are faked on the CPU with ``--xla_force_host_platform_device_count=4``,
which must be set before jax is imported: those checks run in one subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import ml_collections as mlc
import numpy as np
import pytest

from seqgrad.train import distributed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(num_seeds=1, hparams="", batch_size=8, replica=0, data=0):
    return mlc.ConfigDict(
        {
            "train": {"num_seeds": num_seeds, "hparams": hparams, "batch_size": batch_size},
            "mesh": {"replica": replica, "data": data},
        }
    )


# (replicas R, batch B, devices n, mesh.replica, mesh.data) -> (r, d)
@pytest.mark.parametrize(
    "args, expected",
    [
        ((1, 8, 1, 0, 0), (1, 1)),  # one device: trivial mesh
        ((4, 8, 4, 0, 0), (4, 1)),  # R divisible by n: replicas across devices
        ((8, 6, 4, 0, 0), (4, 1)),  # ... whatever the batch
        ((1, 8, 4, 0, 0), (1, 4)),  # one replica: pure data parallelism
        ((3, 8, 4, 0, 0), (1, 4)),  # R prime to n: data parallel
        ((2, 6, 4, 0, 0), (2, 2)),  # R = 2 on 4 devices, B = 6: 2 replica x 2 data
        ((6, 2, 4, 0, 0), (2, 2)),  # largest replica split whose data split divides B
        ((4, 8, 4, 2, 0), (2, 2)),  # mesh.replica given: data = n / replica
        ((4, 8, 4, 0, 4), (1, 4)),  # mesh.data given
        ((4, 8, 4, 1, 4), (1, 4)),  # both given
        ((16, 32, 8, 0, 0), (8, 1)),
    ],
)
def test_mesh_shape(args, expected):
    assert distributed.mesh_shape(*args) == expected


@pytest.mark.parametrize(
    "args, words",
    [
        ((3, 6, 4, 0, 0), ["3 replicas", "train.batch_size=6"]),  # nothing fits
        ((4, 8, 4, 3, 0), ["mesh.replica=3", "device count 4"]),
        ((4, 8, 4, 0, 3), ["mesh.data=3", "device count 4"]),
        ((4, 8, 4, 2, 3), ["mesh.replica=2", "mesh.data=3", "device count 4"]),
        ((3, 8, 4, 4, 0), ["mesh.replica=4", "number of replicas 3"]),
        ((4, 6, 4, 0, 4), ["mesh.data=4", "train.batch_size=6"]),
        ((4, 8, 4, -1, 0), ["mesh.replica=-1", ">= 0"]),
    ],
)
def test_mesh_shape_errors_name_the_key(args, words):
    with pytest.raises(ValueError) as e:
        distributed.mesh_shape(*args)
    for w in words:
        assert w in str(e.value)


def test_num_replicas_is_hparam_product_times_seeds():
    hp = json.dumps({"optim.learning_rate": [0.1, 0.01, 0.001], "optim.clip_value": [1.0, 2.0]})
    assert distributed.num_replicas(_config(num_seeds=4, hparams=hp)) == 24
    assert distributed.num_replicas(_config(num_seeds=1)) == 1


def test_single_device_mesh_and_host_fetch():
    import jax
    import jax.numpy as jnp

    mesh = distributed.make_mesh(_config(num_seeds=2))
    assert mesh.axis_names == ("replica", "data") and mesh.devices.size == jax.device_count()
    x = jax.device_put(jnp.arange(6.0).reshape(2, 3), distributed.batch_sharding(mesh))
    np.testing.assert_array_equal(distributed.to_host({"x": x})["x"], np.arange(6.0).reshape(2, 3))
    assert distributed.is_main_process()


@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, None),
        (
            {"SLURM_JOB_ID": "7", "SLURM_STEP_NODELIST": "n[1-2]", "SLURM_NTASKS": "2", "SLURM_PROCID": "1", "SLURM_LOCALID": "0"},
            "slurm",
        ),
        # one SLURM task, or the batch script outside `srun` (no step node list): single process
        ({"SLURM_JOB_ID": "7", "SLURM_STEP_NODELIST": "n1", "SLURM_NTASKS": "1", "SLURM_PROCID": "0", "SLURM_LOCALID": "0"}, None),
        ({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4", "SLURM_PROCID": "0", "SLURM_LOCALID": "0"}, None),
        ({"OMPI_COMM_WORLD_SIZE": "4", "OMPI_MCA_orte_hnp_uri": "1.0;tcp://10.0.0.1:1"}, "openmpi"),
        ({"OMPI_COMM_WORLD_SIZE": "1", "OMPI_MCA_orte_hnp_uri": "1.0;tcp://10.0.0.1:1"}, None),
        ({"TPU_WORKER_HOSTNAMES": "t0,t1,t2,t3"}, "cloud_tpu"),
        ({"TPU_WORKER_HOSTNAMES": "t0"}, None),  # single-host TPU VM
    ],
)
def test_detect_cluster(env, expected):
    assert distributed.detect_cluster(env) == expected


def test_initialize_single_plain_process_is_a_no_op(monkeypatch):
    for var in list(os.environ):
        if var.startswith(("SLURM_", "OMPI_", "TPU_", "MEGASCALE_")):
            monkeypatch.delenv(var)
    assert distributed.initialize() is None


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"coordinator_address": "127.0.0.1:1234"}, ["num_processes", "process_id", "missing"]),
        ({"coordinator_address": "localhost", "num_processes": 2, "process_id": 0}, ["HOST:PORT"]),
        ({"coordinator_address": "127.0.0.1:1234", "num_processes": 0, "process_id": 0}, ["num_processes=0"]),
        ({"coordinator_address": "127.0.0.1:1234", "num_processes": 2, "process_id": 2}, ["process_id=2"]),
    ],
)
def test_initialize_rejects_bad_arguments(kwargs, words):
    with pytest.raises(ValueError) as e:
        distributed.initialize(**kwargs)
    for w in words:
        assert w in str(e.value)


_FOUR_DEVICES = textwrap.dedent(
    """
    import json
    import jax, jax.numpy as jnp, numpy as np, ml_collections as mlc
    from seqgrad.train import distributed as D

    assert jax.device_count() == 4, jax.devices()
    out = {}

    def cfg(seeds, hp, batch, replica=0, data=0):
        return mlc.ConfigDict({"train": {"num_seeds": seeds, "hparams": hp, "batch_size": batch},
                               "mesh": {"replica": replica, "data": data}})

    hp2 = json.dumps({"optim.learning_rate": [0.1, 0.2]})
    cases = {"r4": cfg(4, "", 8), "r1": cfg(1, "", 8), "r2b6": cfg(1, hp2, 6),
             "r8b2": cfg(4, hp2, 2), "override": cfg(4, "", 8, replica=2)}
    for name, c in cases.items():
        mesh = D.make_mesh(c)
        R, B = D.num_replicas(c), c.train.batch_size
        state = jax.device_put(jnp.arange(R * 3.0).reshape(R, 3), D.state_sharding(mesh))
        batch = jax.device_put(jnp.arange(R * B * 2.0).reshape(R, B, 2), D.batch_sharding(mesh))
        # a per-replica mean over the batch: needs the all-reduce over "data"
        f = jax.jit(lambda w, x: w.sum(-1) * x.mean(axis=(1, 2)), out_shardings=D.state_sharding(mesh))
        y = f(state, batch)
        ref = np.arange(R * 3.0).reshape(R, 3).sum(-1) * np.arange(R * B * 2.0).reshape(R, B, 2).mean(axis=(1, 2))
        out[name] = {
            "shape": [mesh.shape["replica"], mesh.shape["data"]],
            "devices": int(mesh.devices.size),
            "state_shard": list(state.addressable_shards[0].data.shape),
            "batch_shard": list(batch.addressable_shards[0].data.shape),
            "max_err": float(np.abs(D.to_host(y) - ref).max()),
            "y_shard": list(y.addressable_shards[0].data.shape),
        }
    try:
        D.make_mesh(cfg(3, "", 6))
    except ValueError as e:
        out["error"] = str(e)
    print("RESULT" + json.dumps(out))
    """
)


def test_mesh_on_four_fake_devices():
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
        "JAX_PLATFORMS": "cpu",
    }
    proc = subprocess.run(
        [sys.executable, "-c", _FOUR_DEVICES], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("RESULT", 1)[1])
    expected = {  # name: (mesh shape, state shard, batch shard)
        "r4": ([4, 1], [1, 3], [1, 8, 2]),
        "r1": ([1, 4], [1, 3], [1, 2, 2]),
        "r2b6": ([2, 2], [1, 3], [1, 3, 2]),
        "r8b2": ([4, 1], [2, 3], [2, 2, 2]),
        "override": ([2, 2], [2, 3], [2, 4, 2]),
    }
    for name, (shape, state_shard, batch_shard) in expected.items():
        got = out[name]
        assert got["devices"] == 4, name
        assert got["shape"] == shape, name
        assert got["state_shard"] == state_shard, name
        assert got["batch_shard"] == batch_shard, name
        assert got["y_shard"] == [state_shard[0]], name
        # the data-parallel mean equals the single-device one up to float32 summation order
        assert got["max_err"] <= 1e-4, (name, got["max_err"])
    assert "3 replicas" in out["error"] and "train.batch_size=6" in out["error"]
