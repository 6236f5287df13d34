"""Learnability horizons from a finished sweep of `experiments/learnability.py`.

`summarize(sweep_dir, ...)` reads the sweep's ``sweep.json`` and every point's
``result.json`` (per-seed eval), and writes

    learnability.json   {arch: {task: {T: {"success": fraction of seeds, "eval_loss": mean, "chance": loss}}}}
    learnability.md     the largest T each architecture solves per task
    learnability.png    one heat map per task: the fraction of seeds that solved each architecture
                        (row) at each T (column), the memory horizon at initialisation (from a
                        ``gradient_flow.json``) in the row labels (`seqgrad.report.learnability`)

A seed *solves* a point when its eval loss is at most ``success_fraction`` × the
task's chance-level loss (the memoryless predictor, `Task.baseline`).
"""

from __future__ import annotations

import os

import numpy as np

from seqgrad import checks, jsonio
from seqgrad.report import learnability as figure


def init_horizons(gradient_flow_json: str | None) -> dict[str, float]:
    """``{architecture: median memory horizon}`` at the default condition, from the main job's
    ``gradient_flow.json`` (its ``architectures``; ``results`` in older files); empty if none is given.

    Raises:
      ValueError: ``gradient_flow_json`` is given but is absent or not such a file.

    An architecture with several entries takes the entry named after it (the registry
    default, e.g. ``rnn`` rather than ``rnn_relu_identity``), else its first entry.
    """
    if not gradient_flow_json:
        return {}
    if not os.path.isfile(gradient_flow_json):
        raise ValueError(f"gradient_flow={gradient_flow_json!r}: no such file (a gradient_flow.json of "
                         "scripts/analyze.py)")
    report = jsonio.read_json(gradient_flow_json)
    entries = (report.get("architectures") or report.get("results")) if isinstance(report, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise ValueError(f"gradient_flow={gradient_flow_json!r} is not a gradient_flow.json of scripts/analyze.py "
                         "(no 'architectures' with memory horizons)")
    out: dict[str, float] = {}
    for name, entry in sorted(entries.items(), key=lambda item: item[0] != (item[1] or {}).get("arch", item[0])):
        if not isinstance(entry, dict):
            continue
        horizon = entry.get("memory_horizon")
        value = horizon.get("median") if isinstance(horizon, dict) else horizon
        arch = entry.get("arch") if isinstance(entry.get("arch"), str) else name
        if isinstance(value, (int, float)) and arch not in out:
            out[arch] = float(value)
    return out


def collect(sweep_dir: str, success_fraction: float) -> dict:
    sweep = jsonio.read_json(os.path.join(sweep_dir, "sweep.json"))
    if not isinstance(sweep, dict) or "points" not in sweep:
        raise ValueError(f"sweep_dir={sweep_dir!r} holds no readable sweep.json")
    table: dict = {}
    for point in sweep["points"]:
        if point.get("status") != "done":
            continue
        result = jsonio.read_json(os.path.join(sweep_dir, point["name"], "result.json")) or {}
        chance = (point.get("baseline") or {}).get("loss")
        losses = [r["eval"]["loss"] for r in result.get("replicas", []) if r.get("eval", {}).get("loss") is not None]
        if not losses or chance is None:
            continue
        o = point["overrides"]
        cell = table.setdefault(o["model.name"], {}).setdefault(o["task.name"], {})
        cell[int(o["task.length"])] = {
            "success": float(np.mean([loss <= success_fraction * chance for loss in losses])),
            "eval_loss": float(np.mean(losses)),
            "chance": chance,
            "num_seeds": len(losses),
        }
    return table


def largest_solved(cells: dict, threshold: float = 0.5) -> int | None:
    """The largest T whose success fraction reaches ``threshold`` (None: none)."""
    solved = [T for T, c in cells.items() if c["success"] >= threshold]
    return max(solved) if solved else None


def summarize(sweep_dir: str, *, success_fraction: float = 0.1, gradient_flow_json: str | None = None) -> dict:
    checks.number("success_fraction", success_fraction,
                  checks.Range(0.0, 1.0, low_open=True, reason="solved: eval loss <= this fraction of the chance level"))
    horizons = init_horizons(gradient_flow_json)
    table = collect(sweep_dir, success_fraction)
    tasks = sorted({task for arch in table.values() for task in arch})
    jsonio.write_json(os.path.join(sweep_dir, "learnability.json"), jsonio.jsonable(
        {"success_fraction": success_fraction, "results": table, "init_memory_horizon": horizons}))
    lines = [f"Largest T solved by at least half the seeds (solved: eval loss <= {success_fraction:g} × chance level).",
             "", "| architecture | " + " | ".join(tasks) + " | memory horizon at init |",
             "|---|" + "---|" * (len(tasks) + 1)]
    for arch in sorted(table):
        cells = [largest_solved(table[arch].get(t, {})) for t in tasks]
        lines.append(f"| {arch} | " + " | ".join("none" if c is None else str(c) for c in cells)
                     + f" | {horizons.get(arch, 'n/a')} |")
    jsonio.write_text(os.path.join(sweep_dir, "learnability.md"), "\n".join(lines) + "\n")
    figure.plot(table, tasks, horizons, os.path.join(sweep_dir, "learnability.png"))
    return table

