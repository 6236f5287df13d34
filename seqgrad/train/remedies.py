"""Which fix works: a sweep of remedies, each run measured at initialisation and after training.

`run(config, points, workdir)` is `seqgrad.train.sweep.run_sweep` with `measured_run` as
the runner, followed by the remedies report (`seqgrad.report.remedies`): per point
(architecture × remedy × T, seeds vmapped) it trains with `train_and_evaluate` and adds
to every replica's ``eval``

    lyapunov_init, lyapunov_final   top Lyapunov exponent λ₁ of the recurrence (nats/step)
    horizon_init, horizon_final     memory horizon: the last distance d with
                                    ‖∂h_{T−1}/∂h_{T−1−d}‖₂ ≥ threshold·‖J(1)‖ (T − 1 when it
                                    never falls that low within the sequence)

λ₁ on one held-out sequence of the task (key `PROBE_SEED`: the same for every replica and
point of a T), the horizon on each replica's gradient-flow snapshot sequence
(`Trainer.snapshot`), at the initial parameters (after flossing before training, when the
point has it) and at the final checkpoint. The sweep is resumable as any sweep: finished
points are skipped, and "finished" includes the measurements (`measured`): a point stopped
after training but before its measurements were written is measured on the rerun, from
its final checkpoint, without training again.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np

from seqgrad import jsonio
from seqgrad.gradflow import decay
from seqgrad.gradflow.lyapunov import lyapunov_exponents
from seqgrad.report import remedies as report
from seqgrad.train import distributed, sweep
from seqgrad.train.checkpoint import Checkpointer
from seqgrad.train.loop import train_and_evaluate
from seqgrad.train.state import Trainer
from seqgrad.train.sweep_results import is_complete

HORIZON_THRESHOLD = 1e-3  # as the main job's config.horizon_threshold
PROBE_SEED = 12345  # key of the held-out sequence the measurements use


def measured(result: Any, steps: int) -> bool:
    """True for the ``result.json`` of a run trained to ``steps`` whose eval, and each replica's,
    holds every measure of `seqgrad.report.remedies.MEASURES`."""
    if not is_complete(result, steps):
        return False
    replicas = result.get("replicas") or []
    evals = [result["eval"]] + [r.get("eval") if isinstance(r, Mapping) else None for r in replicas]
    if not all(isinstance(e, Mapping) for e in evals):
        return False
    return all(key in e for e in evals for key in report.MEASURES)


def measure(trainer: Trainer, state, threshold: float = HORIZON_THRESHOLD) -> dict[str, np.ndarray]:
    """``{"lyapunov": [R], "horizon": [R]}`` of every replica of ``state``."""
    x = trainer.task.eval_batch(jax.random.key(PROBE_SEED), 1)[0][0]  # [T, D]
    exponents = jax.vmap(lambda p: lyapunov_exponents(trainer.model, p, x, num_exponents=1))(state["params"]["model"])
    norms = np.asarray(distributed.to_host(trainer.snapshot(state)), np.float64)  # [R, T]
    horizons = []
    for row in norms:
        h = decay.memory_horizon(row, threshold)
        horizons.append(float(row.shape[0] - 1 if h is None else h))
    return {"lyapunov": np.asarray(distributed.to_host(exponents))[:, 0].astype(float), "horizon": np.asarray(horizons)}


def _add(result: dict[str, Any], suffix: str, values: Mapping[str, np.ndarray]) -> None:
    for name, per_replica in values.items():
        key = f"{name}_{suffix}"
        result["eval"][key] = float(np.median(per_replica))
        for replica, value in zip(result.get("replicas") or [], per_replica):
            replica["eval"][key] = float(value)


def measured_run(config, workdir: str) -> dict[str, Any]:
    """`train_and_evaluate` plus `measure` at initialisation and at the final checkpoint;
    the measurements are added to ``result.json`` (module docstring)."""
    trainer = Trainer(config, mesh=distributed.make_mesh(config))
    at_init = measure(trainer, trainer.init())
    result = dict(train_and_evaluate(config, workdir))
    checkpoints = Checkpointer(os.path.join(workdir, "checkpoints"), keep=config.checkpoint.keep)
    try:
        _, state = checkpoints.latest(trainer.abstract_state())
    finally:
        checkpoints.close()
    _add(result, "init", at_init)
    _add(result, "final", measure(trainer, state))
    if distributed.is_main_process():
        jsonio.write_json(os.path.join(workdir, "result.json"), jsonio.with_reasons(result))
    return result


def run(config, points: Sequence[Mapping[str, Any]], workdir: str, overrides: Mapping[str, Any] | None = None,
        *, success_fraction: float = report.SUCCESS_FRACTION) -> dict[str, Any]:
    """Every point trained and measured (`measured_run`), then ``remedies.md`` / ``remedies.json`` /
    ``remedies.png`` written under ``workdir`` (`seqgrad.report.remedies.write`); returns the sweep summary."""
    summary = sweep.run_sweep(config, points, workdir, runner=measured_run, overrides=overrides, finished=measured)
    if distributed.is_main_process():
        report.write(summary, workdir, success_fraction=success_fraction)
    return summary
