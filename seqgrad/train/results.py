"""What a training run records: a row per chunk of steps (``metrics.jsonl``) and its final evaluation
(``result.json``, medians over replicas beside the task's chance level)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from seqgrad import jsonio
from seqgrad.train import distributed, flossing


def median(values: np.ndarray) -> float:
    return float(np.median(values))


def row(step: int, metrics: dict[str, np.ndarray], elapsed: float, length: int) -> dict[str, Any]:
    """One metrics row from chunk metrics ``[length, R]``: per-replica values and medians."""
    per_replica = {
        "loss": np.mean(metrics["loss"], axis=0),
        "grad_norm": np.mean(metrics["grad_norm"], axis=0),
        "clip_fraction": np.mean(metrics["clipped"], axis=0),
        "learning_rate": metrics["learning_rate"][-1],
        "nonfinite": np.sum(metrics["nonfinite"], axis=0).astype(int),
    }
    row: dict[str, Any] = {"step": step}
    row.update({k: median(v) for k, v in per_replica.items()})
    row["nonfinite"] = int(np.sum(per_replica["nonfinite"]))
    row["steps_per_s"] = length / elapsed if elapsed > 0 else None
    row.update(flossing.row_entries(metrics))
    if metrics["loss"].shape[1] > 1:
        row["replicas"] = {k: v.tolist() for k, v in per_replica.items()}
    return row


def evaluate(config, trainer, state, step, wall_time, steps_run) -> dict[str, Any]:
    evaluation = {k: np.asarray(v) for k, v in distributed.to_host(trainer.evaluate(state)).items()}
    result: dict[str, Any] = {
        "step": int(step),
        "eval": {k: median(v) for k, v in evaluation.items()},
        "baseline": trainer.task.baseline(),
        "task": {"name": config.task.name, "length": config.task.length, "seq_len": trainer.task.seq_len},
        "model": {"name": config.model.name, "hidden_size": config.model.hidden_size},
        "num_replicas": len(trainer.replicas),
        "wall_time_s": wall_time,
        "steps_per_s": steps_run / wall_time if steps_run and wall_time > 0 else None,
    }
    if len(trainer.replicas) > 1:
        result["replicas"] = [
            {**replica, "eval": {k: float(v[i]) for k, v in evaluation.items()}}
            for i, replica in enumerate(trainer.replicas)
        ]
    return jsonio.with_reasons(result)


def write(workdir: str, result: dict[str, Any]) -> str:
    """Writes ``result.json``, except that a finished, finite result of the same step is
    never replaced by a diverged one (that goes to ``result.diverged.json``); returns
    a sentence saying so, or ""."""
    path = os.path.join(workdir, "result.json")
    old = jsonio.read_json(path)
    if result.get("diverged") and isinstance(old, dict) and not old.get("diverged") and old.get("step") == result["step"]:
        other = os.path.join(workdir, "result.diverged.json")
        note = f" The earlier finite {path} of step {result['step']} is kept; this evaluation is in {other}."
        result["error"] += note
        jsonio.write_json(other, result)
        return note
    jsonio.write_json(path, result)
    return ""
