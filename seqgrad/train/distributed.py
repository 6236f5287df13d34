"""Devices and hosts: JAX's distributed runtime, the ``("replica", "data")`` mesh and its shardings.

A run holds ``R`` replicas (seeds × vmapped hyper-parameters) of a model trained on
batches of ``B`` sequences. Every array of the run carries a leading replica axis,
and batches are ``[R, B, ...]``. Both axes are laid out on one 2-D mesh of all
devices (of all processes):

    mesh shape (r, d),  r · d = number of devices,  r | R,  d | B

    state  [R, ...]     -> PartitionSpec("replica")           (R split r ways)
    batch  [R, B, ...]  -> PartitionSpec("replica", "data")   (B split d ways)

so each device trains ``R / r`` replicas on ``B / d`` of each batch; XLA inserts the
all-reduce of the gradients over ``"data"``. The default shape puts replicas across
devices when ``R`` divides by the device count (no communication at all), and
otherwise the largest replica split that leaves a data split dividing ``B``
(pure data parallelism when ``R = 1``). ``config.mesh.replica`` / ``config.mesh.data``
(0 = automatic) override it. Everything goes through ``jax.jit`` with `NamedSharding`
(no ``pmap``), so the same program runs on 1 CPU, 8 GPUs, or many hosts.

Several processes (one per host, or one per GPU under SLURM) must call `initialize`
before anything touches a device; it starts ``jax.distributed`` either from explicit
arguments (``--coordinator_address=HOST:PORT --num_processes=N --process_id=I``) or
from a detected cluster environment (SLURM, Open MPI, Cloud TPU), and does nothing
for a single plain process.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from seqgrad.train import hparams  # the one parser of train.hparams

log = logging.getLogger(__name__)

AXES = ("replica", "data")

# Environment variables that mark each cluster type jax.distributed can auto-detect.
_SLURM_VARS = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID", "SLURM_LOCALID")


# --------------------------------------------------------------------------- processes


def detect_cluster(environ: Mapping[str, str] | None = None) -> str | None:
    """Name of the multi-process launcher this process runs under, or None.

    Returns ``"slurm"`` (``srun`` with more than one task), ``"openmpi"``
    (``mpirun -n N``, N > 1) or ``"cloud_tpu"`` (a multi-host Cloud TPU slice);
    None for a single plain process, including a one-task SLURM job and a
    single-host TPU VM, where starting the distributed runtime buys nothing.
    Only environment variables are read (no network, no device).
    """
    env = os.environ if environ is None else environ
    if all(v in env for v in _SLURM_VARS) and _int(env.get("SLURM_NTASKS")) > 1:
        return "slurm"
    if _int(env.get("OMPI_COMM_WORLD_SIZE")) > 1 and "OMPI_MCA_orte_hnp_uri" in env:
        return "openmpi"
    hosts = env.get("TPU_WORKER_HOSTNAMES") or env.get("TPU_PROCESS_ADDRESSES") or ""
    if len([h for h in hosts.split(",") if h.strip()]) > 1 or env.get("MEGASCALE_COORDINATOR_ADDRESS"):
        return "cloud_tpu"
    return None


def _int(value: str | None) -> int:
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> str | None:
    """Start JAX's distributed runtime when this is one of several processes.

    Call it first, before any other JAX call (it must precede device creation).

    Args:
      coordinator_address: ``"HOST:PORT"`` of process 0's coordinator service.
      num_processes: total number of processes N (>= 1).
      process_id: this process's index in ``[0, N)``.

    Either all three are given (an explicit launch, e.g. on one machine with
    ``127.0.0.1``), or none: then a SLURM / Open MPI / Cloud TPU environment is
    auto-detected (`detect_cluster`) and ``jax.distributed.initialize()`` reads its
    parameters from it; a single plain process is left alone.

    Returns:
      how the runtime was started: ``"explicit"``, ``"slurm"``, ``"openmpi"``,
      ``"cloud_tpu"``, ``"already"`` (initialised before), or None (single process).

    Raises:
      ValueError: only some of the three arguments are given, or they are invalid.
    """
    given = {
        "coordinator_address": coordinator_address,
        "num_processes": num_processes,
        "process_id": process_id,
    }
    if jax.distributed.is_initialized():
        return "already"
    if any(v is not None for v in given.values()):
        missing = [k for k, v in given.items() if v is None]
        if missing:
            raise ValueError(
                f"distributed.initialize: {', '.join(missing)} missing; give all of "
                f"coordinator_address, num_processes and process_id (got {given}), "
                "or none of them to auto-detect SLURM / Open MPI / Cloud TPU."
            )
        host, sep, port = str(coordinator_address).rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(
                f"coordinator_address={coordinator_address!r} is not of the form HOST:PORT "
                "(e.g. 127.0.0.1:12355)."
            )
        if not 0 < int(port) < 65536:
            raise ValueError(f"coordinator_address={coordinator_address!r}: port {port} must lie in [1, 65535].")
        try:
            socket.getaddrinfo(host.strip("[]"), int(port))
        except (socket.gaierror, UnicodeError) as e:
            raise ValueError(
                f"coordinator_address={coordinator_address!r}: host {host!r} cannot be resolved "
                f"({getattr(e, 'strerror', None) or e})."
            ) from None
        if int(num_processes) < 1:
            raise ValueError(f"num_processes={num_processes} must be >= 1.")
        if not 0 <= int(process_id) < int(num_processes):
            raise ValueError(
                f"process_id={process_id} must be in [0, num_processes={num_processes})."
            )
        _start(coordinator_address=str(coordinator_address), num_processes=int(num_processes), process_id=int(process_id))
        how = "explicit"
    else:
        how = detect_cluster()
        if how is None:
            return None
        _start()
    log.info(
        "jax.distributed started (%s): process %d of %d, %d local / %d global devices",
        how, jax.process_index(), jax.process_count(), jax.local_device_count(), jax.device_count(),
    )
    return how


def _start(**kwargs) -> None:
    """``jax.distributed.initialize(**kwargs)``, its failure (no coordinator reachable,
    a timeout) as one `TrainingError` line."""
    try:
        jax.distributed.initialize(**kwargs)
    except Exception as e:  # noqa: BLE001  XLA raises RuntimeError / XlaRuntimeError / ValueError
        from seqgrad.train.errors import TrainingError

        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TrainingError(f"jax.distributed.initialize({kwargs or 'auto-detected'}) failed: {first}") from None


def is_main_process() -> bool:
    """True on process 0, the one that writes metrics, results and summaries."""
    return jax.process_index() == 0


# --------------------------------------------------------------------------- mesh


def num_replicas(config) -> int:
    """R = ``train.num_seeds`` × the product of the ``train.hparams`` list lengths."""
    return hparams.count(config)


def mesh_shape(
    num_replicas: int,
    batch_size: int,
    num_devices: int,
    replica: int = 0,
    data: int = 0,
) -> tuple[int, int]:
    """The ``(replica, data)`` mesh shape for R replicas, batch B and n devices.

    Automatic (``replica = data = 0``): ``(n, 1)`` when ``n | R``; otherwise the
    largest ``r`` with ``r | n``, ``r | R`` and ``(n / r) | B``. One given, the other
    is ``n`` divided by it. Every shape must satisfy ``r · d = n``, ``r | R``, ``d | B``.

    Raises:
      ValueError: naming ``mesh.replica`` / ``mesh.data``, the sizes and what fits.
    """
    n, R, B = int(num_devices), int(num_replicas), int(batch_size)
    for key, value in (("mesh.replica", replica), ("mesh.data", data)):
        if value < 0:
            raise ValueError(f"{key}={value} must be >= 0 (0 = automatic).")
    divisors = [k for k in range(n, 0, -1) if n % k == 0]
    fits = [(r, n // r) for r in divisors if R % r == 0 and B % (n // r) == 0]
    if replica == 0 and data == 0:
        if not fits:
            raise ValueError(
                f"no (mesh.replica, mesh.data) layout of {n} devices fits {R} replicas "
                f"and train.batch_size={B}: need replica | {R} and data | {B} with "
                f"replica * data = {n}; choose a batch size divisible by {n}."
            )
        return fits[0]
    if replica and data and replica * data != n:
        raise ValueError(
            f"mesh.replica={replica} x mesh.data={data} = {replica * data} must equal the "
            f"device count {n}; layouts that fit: {fits}."
        )
    r = replica or (n // data if n % data == 0 else 0)
    d = data or (n // replica if n % replica == 0 else 0)
    if r == 0 or d == 0:
        key, value = ("mesh.replica", replica) if replica else ("mesh.data", data)
        raise ValueError(f"{key}={value} does not divide the device count {n}; layouts that fit: {fits}.")
    if R % r:
        raise ValueError(
            f"mesh.replica={r} does not divide the number of replicas {R} "
            f"(train.num_seeds x hparams); layouts that fit: {fits}."
        )
    if B % d:
        raise ValueError(
            f"mesh.data={d} does not divide train.batch_size={B}; layouts that fit: {fits}."
        )
    return r, d


def make_mesh(config, devices=None) -> Mesh:
    """The ``("replica", "data")`` mesh over all devices (of every process) for ``config``.

    Reads ``train.num_seeds``, ``train.hparams``, ``train.batch_size`` and
    ``mesh.replica`` / ``mesh.data`` (0 = automatic); see `mesh_shape`.
    """
    devices = jax.devices() if devices is None else list(devices)
    mesh_cfg = config.get("mesh", None) or {}
    shape = mesh_shape(
        num_replicas(config),
        int(config.train.batch_size),
        len(devices),
        replica=int(mesh_cfg.get("replica", 0) or 0),
        data=int(mesh_cfg.get("data", 0) or 0),
    )
    # Auto axes: shardings are given explicitly to jax.jit, not propagated by type.
    return jax.make_mesh(shape, AXES, axis_types=(AxisType.Auto,) * 2, devices=devices)


def state_sharding(mesh: Mesh) -> NamedSharding:
    """Arrays ``[R, ...]`` (params, optimizer state, keys): R split over ``"replica"``."""
    return NamedSharding(mesh, PartitionSpec("replica"))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Batches ``[R, B, ...]``: R over ``"replica"``, B over ``"data"``."""
    return NamedSharding(mesh, PartitionSpec("replica", "data"))


def metrics_sharding(mesh: Mesh) -> NamedSharding:
    """Per-step metrics ``[S, R]`` of a chunk of S steps: R over ``"replica"``, S whole."""
    return NamedSharding(mesh, PartitionSpec(None, "replica"))


def to_host(tree: Any) -> Any:
    """Fetch a pytree of (possibly multi-process, sharded) arrays as numpy on every process.

    ``jax.device_get`` cannot read shards held by another process; with several
    processes the arrays are all-gathered first (every process must call this).
    """
    if jax.process_count() == 1:
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    def fetch(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(jax.device_get(x))

    return jax.tree.map(fetch, tree)
