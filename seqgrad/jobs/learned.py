"""Gradient flow before and after training: the page's learning claims, measured.

`run(config, workdir)` trains every architecture of ``config.architectures`` on
its training config ``config.train_configs[arch]`` (through `seqgrad.train.loop`, seeds vmapped,
one workdir each under ``workdir/<arch>``, resumable), restores the trained
parameters (`trained.load`), rebuilds the same seeds' initial parameters, and
measures both on ``config.num_sequences`` task sequences:

* the input-Jacobian profile ``‖∂ŷ_{T-1}/∂x_t‖`` and, for the adding problem,
  the share of it on the two marked steps (``marker_share``);
* the gate statistics of the LSTM forget gate and the GRU update gate (`gates`);
* ``‖∂s_{T-1}/∂s_t‖₂`` at distance ``T-1-t`` (s the LSTM cell state, the hidden
  state otherwise; `state_jacobians`), averaged over sequences and seeds.

Three claim rows are judged from these numbers (`verdicts`). Writes
``learned_gradient_flow.json``, ``summary.md`` and ``learned_gradient_flow.png``
(`seqgrad.report.learned`).
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from seqgrad import checks, jsonio
from seqgrad.gradflow import gates
from seqgrad.jobs import trained
from seqgrad.report import learned as figure
from seqgrad.gradflow.jacobians import state_jacobians
from seqgrad.train import loop


def _marker_share(norms, inputs) -> float | None:
    """Mean over sequences of the profile's share on the marked steps (adding problem)."""
    if inputs.shape[-1] != 2:
        return None
    marks = np.asarray(inputs[..., 1])
    return float(np.mean(np.sum(norms * marks, axis=1) / np.maximum(np.sum(norms, axis=1), 1e-30)))


def _state_decay(run, params, inputs, distances) -> list[float]:
    model = run.trainer.model
    site = "cell" if run.config.model.name == "lstm" else "hidden"
    norms = []
    for x in inputs:  # a few sequences; each call is the one compiled Jacobian stack
        J = state_jacobians(model, params["model"], x, site=site)
        T = J.shape[0]
        norms.append([float(jnp.linalg.norm(J[T - 1 - d], 2)) for d in distances])
    return np.mean(norms, axis=0).tolist()


def measure(run, params, inputs, config) -> dict:
    """Every measurement of one replica's ``params`` on the task ``inputs [B, T, D]``."""
    norms = trained.input_norms(run.trainer, params, inputs)
    out = {"input_profile": norms.mean(axis=0).tolist(), "marker_share": _marker_share(norms, inputs)}
    name = run.config.model.name
    if name in gates.GATES and run.config.model.get("options", {}).get("num_layers", 1) == 1:
        h = run.trainer.model.apply(params["model"], inputs)
        g = gates.gate_sequence(name, params["model"]["params"]["layer_0"], inputs, h)
        out["gates"] = gates.gate_statistics(name, g, threshold=config.gate_threshold)
    out["state_jacobian_norm"] = _state_decay(run, params, inputs[: config.jacobian_sequences], config.distances)
    return out


def mean_rows(rows: list[dict]) -> dict:
    """Replica means of the numeric leaves (lists element-wise)."""
    first = rows[0]
    out = {}
    for key, value in first.items():
        if isinstance(value, dict):
            out[key] = mean_rows([r[key] for r in rows])
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = float(np.mean([r[key] for r in rows]))
        elif isinstance(value, list):
            out[key] = np.mean([r[key] for r in rows], axis=0).tolist()
        else:
            out[key] = value
    return out


def analyse(arch_workdir: str, config) -> dict:
    run = trained.load(arch_workdir)
    inputs, _, _ = run.trainer.task.batch(jax.random.key(config.seed), config.num_sequences)
    init = run.trainer.init()["params"]
    replicas = range(len(run.trainer.replicas))
    at = {
        "init": mean_rows([measure(run, jax.tree.map(lambda v: v[r], init), inputs, config) for r in replicas]),
        "trained": mean_rows([measure(run, run.replica(r), inputs, config) for r in replicas]),
    }
    result = jsonio.read_json(os.path.join(arch_workdir, "result.json")) or {}
    num_params = sum(int(np.prod(v.shape[1:])) for v in jax.tree.leaves(run.params["model"]))
    return {
        **at,
        "trained_run": {"workdir": run.workdir, "step": run.step, "eval": run.eval},
        "baseline": result.get("baseline"),
        "steps_per_s": result.get("steps_per_s"),
        "num_params": num_params,
    }


def _loss(entry, key="trained_run") -> str:
    ev = (entry[key]["eval"] if key == "trained_run" else entry[key]) or {}
    return f"{ev['loss']:.3g}" if "loss" in ev else "n/a"


def _solved(entry, fraction) -> bool:
    ev, base = entry["trained_run"]["eval"] or {}, entry["baseline"] or {}
    return "loss" in ev and "loss" in base and ev["loss"] <= fraction * base["loss"]


def verdicts(results: dict, config) -> list[dict]:
    """The page's three learning claims, each with the numbers it was judged on."""
    rows = []
    far = config.distances[-1]
    if "lstm" in results:
        r = results["lstm"]
        f0, f1 = (r[k].get("gates", {}).get("fraction_units_above", float("nan")) for k in ("init", "trained"))
        j0, j1 = r["init"]["state_jacobian_norm"][-1], r["trained"]["state_jacobian_norm"][-1]
        opened, follows, solved = f1 > f0, j1 > j0, _solved(r, config.success_fraction)
        text = "supported" if opened and follows else "not supported"
        rows.append({
            "claim": "the network learns to set f_t close to 1 for long-range dependencies, and ∂c_{T-1}/∂c_t follows",
            "verdict": text if solved else f"{text} (the LSTM did not solve the task)",
            "evidence": f"units with f > {config.gate_threshold}: {f0:.2f} at init, {f1:.2f} trained; "
            f"‖∂c_T-1/∂c_t‖ at distance {far}: {j0:.2e} → {j1:.2e}; solved: {solved}",
        })
    if {"lstm", "gru"} <= set(results):
        lstm, gru = results["lstm"], results["gru"]
        fewer = gru["num_params"] < lstm["num_params"]
        solved = _solved(gru, config.success_fraction), _solved(lstm, config.success_fraction)
        text = "supported" if fewer and (solved[0] or not solved[1]) else "not supported"
        rows.append({
            "claim": "GRU achieves similar long-range learning capability with less complexity",
            "verdict": text if any(solved) else "inconclusive (neither solved the task)",
            "evidence": f"parameters {gru['num_params']} vs {lstm['num_params']}; steps/s {gru['steps_per_s']:.3g} vs "
            f"{lstm['steps_per_s']:.3g}; eval loss {_loss(gru)} vs {_loss(lstm)}",
        })
    if "rnn" in results:
        r = results["rnn"]
        gated = any(_solved(results[a], config.success_fraction) for a in ("lstm", "gru") if a in results)
        text = "not supported" if _solved(r, config.success_fraction) else "supported"
        rows.append({
            "claim": "vanilla RNN only for very short sequences",
            "verdict": text if gated or text == "not supported" else "inconclusive (no gated model solved the task)",
            "evidence": f"eval loss {_loss(r)} vs chance {_loss(r, 'baseline')} at T = {config.train_configs['rnn'].task.length}",
        })
    return rows


def run(config, workdir: str) -> dict:
    """Trains (or resumes), analyses, judges and writes; returns the report."""
    fraction = checks.Range(0.0, 1.0, low_open=True)
    checks.config_numbers(config, {"success_fraction": fraction, "gate_threshold": fraction}, prefix="")
    os.makedirs(workdir, exist_ok=True)
    start = time.perf_counter()
    results = {}
    for arch in config.architectures:
        arch_dir = os.path.join(workdir, arch)
        loop.train_and_evaluate(config.train_configs[arch], arch_dir)
        results[arch] = analyse(arch_dir, config)
    rows = verdicts(results, config)
    seconds = time.perf_counter() - start
    report = {"results": results, "claims": rows, "wall_time_s": seconds}
    jsonio.write_json(os.path.join(workdir, "learned_gradient_flow.json"), jsonio.jsonable(report))
    figure.plot(results, os.path.join(workdir, "learned_gradient_flow.png"))
    lines = ["# Gradient flow before and after training", "",
             "| arch | eval loss (trained) | marker share init → trained | carry gate > thr, init → trained |",
             "|---|---|---|---|"]
    for name, r in results.items():
        share = [r[k]["marker_share"] for k in ("init", "trained")]
        gate = [r[k].get("gates", {}).get("fraction_units_above") for k in ("init", "trained")]
        share, gate = (" → ".join("n/a" if v is None else f"{v:.3f}" for v in pair) for pair in (share, gate))
        lines.append(f"| {name} | {_loss(r)} (chance {_loss(r, 'baseline')}) | {share} | {gate} |")
    lines += ["", "| claim | verdict | evidence |", "|---|---|---|"]
    lines += [f"| {r['claim']} | {r['verdict']} | {r['evidence']} |" for r in rows]
    lines += ["", f"Trained and measured in {seconds:.0f} s."]
    jsonio.write_text(os.path.join(workdir, "summary.md"), "\n".join(lines) + "\n")
    return report
