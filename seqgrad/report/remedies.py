"""The remedies table and figure, from a finished (or partial) remedies sweep.

Input: the sweep summary (``sweep.json``: points with ``overrides`` holding ``model.name``,
``task.length`` and ``remedy``) and each point's ``result.json`` (per-seed ``eval`` with the
measurements of `seqgrad.train.remedies`). Output, under the sweep directory:

    remedies.json   {arch: {remedy: {T: cell}}}, cell = {"success", "eval_loss", "chance",
                    "lyapunov_init", "lyapunov_final", "horizon_init", "horizon_final", "num_seeds"}
    remedies.md     largest T solved per architecture × remedy, then every cell
    remedies.png    success fraction vs T, one line per remedy, one panel per architecture

A seed *solves* a cell when its held-out loss is at most ``success_fraction`` × the task's
chance level (as `seqgrad.jobs.learnability`); medians over seeds otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from seqgrad import jsonio

SUCCESS_FRACTION = 0.1
MEASURES = ("lyapunov_init", "lyapunov_final", "horizon_init", "horizon_final")


def _replica_evals(sweep_dir: str, point: Mapping[str, Any]) -> list[dict]:
    result = jsonio.read_json(os.path.join(sweep_dir, point["name"], "result.json")) or {}
    evals = [r.get("eval") or {} for r in result.get("replicas") or []]
    return evals or [result.get("eval") or point.get("eval") or {}]


def collect(summary: Mapping[str, Any], sweep_dir: str, success_fraction: float = SUCCESS_FRACTION) -> dict:
    """``{arch: {remedy: {T: cell}}}`` from the points that finished (module docstring)."""
    table: dict = {}
    for point in summary.get("points", []):
        o = point.get("overrides") or {}
        chance = (point.get("baseline") or {}).get("loss")
        if point.get("status") != "done" or chance is None:
            continue
        evals = [e for e in _replica_evals(sweep_dir, point) if isinstance(e.get("loss"), (int, float))]
        if not evals:
            continue
        losses = np.asarray([e["loss"] for e in evals], np.float64)
        cell = {
            "success": float(np.mean(losses <= success_fraction * chance)),
            "eval_loss": float(np.median(losses)),
            "chance": float(chance),
            "num_seeds": len(evals),
        }
        for key in MEASURES:
            values = [e[key] for e in evals if isinstance(e.get(key), (int, float))]
            cell[key] = float(np.median(values)) if values else None
        arch, remedy = o.get("model.name", "?"), o.get("remedy", "none")
        table.setdefault(arch, {}).setdefault(remedy, {})[int(o.get("task.length", 0))] = cell
    return table


def largest_solved(cells: Mapping[int, Mapping[str, Any]], threshold: float = 0.5) -> int | None:
    """The largest T solved by at least ``threshold`` of the seeds (None: none)."""
    solved = [T for T, c in cells.items() if c["success"] >= threshold]
    return max(solved) if solved else None


def _num(x, fmt="{:.3g}") -> str:
    return "–" if x is None else fmt.format(x)


def markdown(table: Mapping[str, Any], success_fraction: float = SUCCESS_FRACTION) -> str:
    """Two tables: the largest T each remedy solves per architecture, and every cell."""
    lines = [
        f"Largest T solved by at least half the seeds (held-out loss <= {success_fraction:g} × chance);",
        "λ₁: top Lyapunov exponent (nats/step), horizon: last d with ‖J(d)‖ ≥ 1e-3·‖J(1)‖, medians over seeds.",
        "",
        "| architecture | remedy | largest T solved | vs none |",
        "|---|---|---|---|",
    ]
    for arch in sorted(table):
        base = largest_solved(table[arch].get("none", {}))
        for remedy in sorted(table[arch], key=lambda r: (r != "none", r)):
            best = largest_solved(table[arch][remedy])
            gain = "" if remedy == "none" else (
                "same" if best == base else f"{'none' if base is None else base} → {'none' if best is None else best}")
            lines.append(f"| {arch} | {remedy} | {'none' if best is None else best} | {gain} |")
    lines += ["", "| architecture | remedy | T | success | held-out loss | chance | λ₁ init | λ₁ final | "
              "horizon init | horizon final | seeds |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for arch in sorted(table):
        for remedy in sorted(table[arch], key=lambda r: (r != "none", r)):
            for T, c in sorted(table[arch][remedy].items()):
                lines.append(
                    f"| {arch} | {remedy} | {T} | {c['success']:.2g} | {c['eval_loss']:.3g} | {c['chance']:.3g} | "
                    f"{_num(c['lyapunov_init'], '{:+.3f}')} | {_num(c['lyapunov_final'], '{:+.3f}')} | "
                    f"{_num(c['horizon_init'], '{:.0f}')} | {_num(c['horizon_final'], '{:.0f}')} | {c['num_seeds']} |"
                )
    return "\n".join(lines) + "\n"


def plot(table: Mapping[str, Any], path: str, dpi: int = 110) -> str | None:
    """Success fraction vs T, one line per remedy, one panel per architecture; None when empty."""
    if not table:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    archs = sorted(table)
    remedies = sorted({r for arch in table.values() for r in arch}, key=lambda r: (r != "none", r))
    colors = {r: plt.get_cmap("tab10")(k % 10) for k, r in enumerate(remedies)}  # one colour per remedy everywhere
    fig, axes = plt.subplots(1, len(archs), figsize=(3.6 * len(archs), 3.0), squeeze=False, sharey=True)
    for ax, arch in zip(axes[0], archs):
        lengths = sorted({T for r in table[arch].values() for T in r})
        for remedy in remedies:
            if remedy not in table[arch]:
                continue
            Ts = sorted(table[arch][remedy])
            # A small vertical offset per remedy keeps overlapping lines apart.
            ys = [table[arch][remedy][T]["success"] + 0.012 * remedies.index(remedy) for T in Ts]
            ax.plot(Ts, ys, marker="o", color=colors[remedy], lw=2.2 if remedy == "none" else 1.3,
                    ls="--" if remedy == "none" else "-", label=remedy)
        ax.set_title(arch)
        ax.set_xlabel("delay T")
        if len(lengths) > 1:
            ax.set_xscale("log")
            ax.set_xticks(lengths, [str(T) for T in lengths])
            ax.minorticks_off()
        ax.set_ylim(-0.05, 1.15)
        ax.grid(alpha=0.3)
    handles = [plt.Line2D([], [], color=colors[r], marker="o", ls="--" if r == "none" else "-") for r in remedies]
    axes[0][0].set_ylabel("success (fraction of seeds)")
    axes[0][-1].legend(handles, remedies, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def write(summary: Mapping[str, Any], sweep_dir: str, success_fraction: float = SUCCESS_FRACTION) -> dict:
    """``remedies.json``, ``remedies.md`` and ``remedies.png`` under ``sweep_dir``; returns the table."""
    table = collect(summary, sweep_dir, success_fraction)
    jsonio.write_json(os.path.join(sweep_dir, "remedies.json"),
                      jsonio.jsonable({"success_fraction": success_fraction, "results": table}))
    jsonio.write_text(os.path.join(sweep_dir, "remedies.md"), markdown(table, success_fraction))
    plot(table, os.path.join(sweep_dir, "remedies.png"))
    return table
