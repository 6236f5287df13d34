"""Learnability horizons from a finished sweep of `experiments/learnability.py`.

`summarize(sweep_dir, ...)` reads the sweep's ``sweep.json`` and every point's
``result.json`` (per-seed eval), and writes

    learnability.json   {arch: {task: {T: {"success": fraction of seeds, "eval_loss": mean, "chance": loss}}}}
    learnability.md     the largest T each architecture solves per task
    learnability.png    success fraction vs T per architecture, one panel per task, with the
                        memory horizon at initialisation (from a ``gradient_flow.json``) beside it

A seed *solves* a point when its eval loss is at most ``success_fraction`` × the
task's chance-level loss (the memoryless predictor, `Task.baseline`).
"""

from __future__ import annotations

import os

import numpy as np

from seqgrad import jsonio


def init_horizons(gradient_flow_json: str | None) -> dict[str, float]:
    """``{architecture: median memory horizon}`` from the main job's ``gradient_flow.json`` (empty if absent)."""
    report = jsonio.read_json(gradient_flow_json) if gradient_flow_json else None
    out = {}
    for name, entry in ((report or {}).get("results") or {}).items():
        horizon = entry.get("memory_horizon") if isinstance(entry, dict) else None
        value = horizon.get("median") if isinstance(horizon, dict) else horizon
        if isinstance(value, (int, float)):
            out[entry.get("arch", name) if isinstance(entry.get("arch"), str) else name] = float(value)
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
    table = collect(sweep_dir, success_fraction)
    horizons = init_horizons(gradient_flow_json)
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
    _plot(table, tasks, horizons, os.path.join(sweep_dir, "learnability.png"))
    return table


def _plot(table, tasks, horizons, path, dpi: int = 110) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, max(len(tasks), 1), figsize=(4.2 * max(len(tasks), 1), 3.2), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for arch in sorted(table):
            cells = table[arch].get(task, {})
            if not cells:
                continue
            Ts = sorted(cells)
            (line,) = ax.semilogx(Ts, [cells[T]["success"] for T in Ts], "o-", ms=3, label=arch)
            if arch in horizons:
                ax.axvline(max(horizons[arch], 1.0), color=line.get_color(), ls=":", lw=0.8)
        ax.set_title(f"{task} (dotted: memory horizon at init)", fontsize=8)
        ax.set_xlabel("T")
        ax.set_ylim(-0.05, 1.05)
    axes[0][0].set_ylabel("fraction of seeds solved")
    axes[0][-1].legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
