"""Memory estimates from a config, checked before anything compiles.

A run whose arrays cannot fit ends in XLA's "Out of memory" (or a C++ abort) after
minutes of compiling, without naming the key that made it large. `check_training`
and `check_analysis` estimate the memory from the config alone (shapes, no
compilation: the parameter count comes from `jax.eval_shape` of the model's init)
and refuse, in one line, a config whose estimate exceeds the memory available,
naming the dominant key, its value and the estimate against the memory.

Training, for R replicas of which R_f run at once (all with ``vmap``,
``train.replica_batch_size`` with ``lax.map``), P parameters per replica, batch B,
sequence length T, hidden size H, L layers, input / output widths D / O, 4-byte floats:

    state          R · P · (1 + k_opt)         parameters and optimizer state (k_opt: 0 sgd,
                                               1 momentum / rmsprop, 2 adam / adamw)
    gradients      R_f · P
    activations    R_f · B · T · (K·H·L + D + O)   K = 8 tensors of width H kept per step for
                                               the backward pass (gates, carries), plus the
                                               attention weights R_f · B · heads · T² · L of
                                               attention models
    evaluation     R_f · B_eval · T · (2·H·L + D + O)
    snapshot       R_f · 2 · T · H²            the Jacobian stack of a gradient-flow snapshot

and the estimate is state + gradients + the largest of the other three. The
analysis (`seqgrad.gradflow`) with ``method="exact"`` holds a ``[T, n, n]`` stack
of state Jacobians and its reverse-mode intermediates, 3 · T · n² floats at the
largest ``conditions.T``.

These are lower bounds of what XLA allocates (fusion may save some, temporaries
add more); they exist to refuse the hopeless (``model.hidden_size=10**6``,
``task.length=10**8``) in seconds, not to predict. ``train.memory_check=False``
skips the training check; the analysis check is skipped by ``method="sketch"`` or
``"auto"`` (which switches to the sketch where the stack would not fit).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

__all__ = ["available_memory", "training_estimate", "check_training", "analysis_estimate", "check_analysis",
           "human"]

_ACTIVATIONS_PER_STEP = 8  # tensors of width H a recurrent cell keeps per step for its backward pass
_OPTIMIZER_COPIES = {"sgd": 0, "momentum": 1, "rmsprop": 1, "adam": 2, "adamw": 2}
# A key's value over its reference says how unusually large it is; the dominant key of
# the dominant term is the one furthest above its reference.
_REFERENCE = {
    "model.hidden_size": 1024, "task.length": 10_000, "train.batch_size": 1024, "eval.batch_size": 4096,
    "train.num_seeds": 64, "train.replica_batch_size": 64, "model.options.num_layers": 8,
    "model.options.num_heads": 16, "config.hidden_size": 1024, "config.conditions.T": 10_000,
}


def human(n: float) -> str:
    """``n`` bytes in words: ``"8.6 GB"``."""
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} PB"


def available_memory() -> tuple[int, str]:
    """``(bytes, where)``: the memory of the local accelerators, or the host's available memory."""
    import jax

    devices = jax.local_devices()
    if devices and devices[0].platform != "cpu":
        limits = [(d.memory_stats() or {}).get("bytes_limit", 0) for d in devices]
        if all(limits):
            return int(sum(limits)), f"{len(devices)} {devices[0].device_kind} device(s)"
    try:
        with open("/proc/meminfo") as f:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f}
        return info.get("MemAvailable", info["MemTotal"]), "available on this machine"
    except (OSError, KeyError, ValueError, IndexError):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "on this machine"


def _parameter_count(config, task) -> int:
    import jax
    import jax.numpy as jnp

    from seqgrad.train import config as config_lib

    model = config_lib.make_model(config)
    x = jax.ShapeDtypeStruct((1, task.seq_len, task.input_dim), jnp.float32)
    shapes = jax.eval_shape(model.init, jax.random.key(0), x)
    readout = config.model.hidden_size * task.output_dim + task.output_dim
    return int(sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(shapes))) + readout


def training_estimate(config) -> list[tuple[str, float, dict[str, Any]]]:
    """``[(term, bytes, {key: value})]`` of a training run of a validated ``config``: the
    terms of the module docstring (the ones that coexist), each with the keys it grows with."""
    from seqgrad.train import config as config_lib
    from seqgrad.train import hparams as hparams_lib

    task = config_lib.make_task(config)
    c, opts = config, config.model.options
    grid = math.prod(len(v) for v in hparams_lib.parse_hparams(config).values())
    replicas = c.train.num_seeds * grid
    in_flight = replicas if c.train.replica_execution == "vmap" else min(replicas, c.train.replica_batch_size)
    if c.train.replica_execution == "auto":  # vmap on accelerators (`seqgrad.train.state.execution`)
        import jax

        in_flight = min(replicas, c.train.replica_batch_size) if jax.default_backend() == "cpu" else replicas
    params = _parameter_count(config, task)
    H, T, L = c.model.hidden_size, task.seq_len, int(opts.get("num_layers", 1) or 1)
    width = task.input_dim + task.output_dim
    seeds = {"train.num_seeds": c.train.num_seeds}
    state = 4.0 * replicas * params * (1 + _OPTIMIZER_COPIES.get(c.optim.name, 2))
    grads = 4.0 * in_flight * params
    sizes = {"model.hidden_size": H, "task.length": c.task.length, "model.options.num_layers": L}
    act = 4.0 * in_flight * c.train.batch_size * T * (_ACTIVATIONS_PER_STEP * H * L + width)
    heads = int(opts.get("num_heads", 0) or 0)
    if heads and c.model.name in ("transformer", "attention_rnn"):
        act += 4.0 * in_flight * c.train.batch_size * heads * T * T * L
    evaluation = 4.0 * in_flight * c.eval.batch_size * T * (2 * H * L + width)
    snapshot = 4.0 * in_flight * 2 * T * H * H if c.snapshot.every else 0.0
    terms = [
        (f"parameters and optimizer state of {replicas} replica(s) × {params} parameters", state + grads,
         {**seeds, "model.hidden_size": H, "model.options.num_layers": L}),
        ("activations of a training step", act,
         {"train.batch_size": c.train.batch_size, **sizes, "train.replica_batch_size": in_flight}),
        ("evaluation batches", evaluation,
         {"eval.batch_size": c.eval.batch_size, **sizes, "train.replica_batch_size": in_flight}),
        ("Jacobian stacks of the gradient-flow snapshot", snapshot, sizes),
    ]
    return terms


def _total(terms: list[tuple[str, float, dict]]) -> float:
    return terms[0][1] + max((t[1] for t in terms[1:]), default=0.0)


def _dominant_key(keys: Mapping[str, Any]) -> str:
    return max(keys, key=lambda k: keys[k] / _REFERENCE.get(k, 1) if isinstance(keys[k], (int, float)) else 0)


def _refuse(terms, memory: tuple[int, str], advice: str) -> None:
    total = _total(terms)
    limit, where = memory
    if total <= limit:
        return
    term, size, keys = max(terms, key=lambda t: t[1])
    key = _dominant_key(keys)
    raise ValueError(
        f"{key}={keys[key]!r} is too large: the estimated memory is {human(total)} ({term}: {human(size)}) "
        f"against {human(limit)} {where}; lower {key}, or {advice}"
    )


def check_training(config, memory: tuple[int, str] | None = None) -> None:
    """Refuses (one-line `ValueError`) a training config whose estimate exceeds ``memory``
    (default: `available_memory`); skipped with ``train.memory_check=False``."""
    if not config.train.get("memory_check", True):
        return
    _refuse(training_estimate(config), memory or available_memory(),
            "set train.memory_check=False to try anyway")


def analysis_estimate(config) -> list[tuple[str, float, dict[str, Any]]]:
    """The terms of the gradient-flow analysis of ``config`` (`experiments/gradient_flow.py`)."""
    if config.get("method", "exact") != "exact":
        return [("nothing large", 0.0, {})]
    T = max(tuple(config.conditions.T) or (config.T,))
    n = config.hidden_size
    width = 8 if config.get("float64", False) else 4
    stack = 3.0 * width * T * n * n
    return [("the exact [T, n, n] stack of state Jacobians", stack,
             {"config.hidden_size": n, "config.conditions.T": T})]


def check_analysis(config, memory: tuple[int, str] | None = None) -> None:
    """Refuses an analysis config whose exact Jacobian stack cannot fit (one line naming
    the key; ``method="sketch"`` needs no stack); skipped with ``memory_check=False``."""
    if not config.get("memory_check", True):
        return
    _refuse([("", 0.0, {}), *analysis_estimate(config)], memory or available_memory(),
            "use config.method='sketch' (no stack) or 'auto'")
