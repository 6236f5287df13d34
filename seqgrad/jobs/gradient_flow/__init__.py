"""The main job: the gradient flow of every configured architecture across a grid of conditions.

`run(config, workdir)` is the library side of ``scripts/analyze.py``, one straight line:

1. `config`: the config's numbers checked (`validate`) and its `config.Plan` (the windows: burn-in,
   lengths; the profile thresholds; the condition grid);
2. `entries`: every entry of ``config.entries`` (an architecture, its options, a perturbation
   site, an initialisation or a trained run) built and checked, before anything compiles;
3. `programs`, compiled by `compilation`: per entry, a few programs that cover every condition
   (input scale × T) for ``config.num_seeds`` initialisations and ``config.num_inputs`` inputs
   ``x ~ s·N(0, 1)`` each: the state Jacobians of the window after the burn-in and their
   spectra, the Lyapunov exponents, the page's snippet experiment;
4. `measurements`: the programs run, one entry at a time, with a float64 recheck of suspect zeros;
5. `summaries`: per condition the decay rate, regime, horizons and their spreads, as the typed
   record of `seqgrad.report.record`;
6. `seqgrad.report`: the claims evaluated per condition, then ``gradient_flow.json``,
   ``summary.md`` and the plots.

JAX's persistent compilation cache (``config.compilation_cache_dir``) makes a rerun skip
compilation, and the programs kept beside it (`program_store`) make it skip tracing and lowering;
entries that lower to the same program compile it once (`compilation.ProgramCache`).
"""

from __future__ import annotations

import dataclasses
import time

from seqgrad.jobs.gradient_flow import compilation, config as config_lib, entries as entries_lib
from seqgrad.jobs.gradient_flow import inputs, measurements, summaries
from seqgrad.jobs.gradient_flow.config import validate
from seqgrad.report import gradient_flow, progress
from seqgrad.report.record import Report

__all__ = ["run", "validate"]


def run(config, workdir: str) -> Report:
    """Measures every entry of ``config`` in every condition and writes the report into ``workdir``.

    The steps, each once: the entries (their config checked first), every entry's programs compiled
    ahead of time, ``config.workers`` at a time in threads (XLA compiles without the GIL; compilation
    executes nothing), the measurements one entry at a time (concurrent executions on XLA's CPU thread
    pool can deadlock), their summaries, then the claims and the files (`seqgrad.report.gradient_flow.write`:
    ``gradient_flow.json``, ``summary.md``, the PNG plots). Returns the typed `Report`.
    """
    entries = entries_lib.build_entries(config)
    plan = config_lib.plan(config)  # the windows, thresholds, grid and workers, derived once
    w = plan.windows
    shared = compilation.program_cache(config, workdir)  # each program compiled once, kept for a rerun
    start = time.perf_counter()
    drawn = {e.name: inputs.measurement_inputs(e, config) for e in entries}  # here: the threads execute nothing
    compiled = progress.run_all(entries, lambda e: compilation.compile_entry(e, config, drawn[e.name], w, shared),
                                workers=plan.workers, desc="compile", label=lambda e: e.name)
    records = {}
    for entry, (program, step_program) in progress.track(
            list(zip(entries, compiled)), desc="gradient flow", label=lambda item: item[0].name):
        raw = measurements.measure(entry, config, drawn[entry.name], program, shared)
        seconds = compilation.time_step(step_program, entry, config) if step_program is not None else float("nan")
        records[entry.name] = dataclasses.replace(summaries.entry_summary(entry, config, raw, plan), time_per_step_s=seconds)
    report = Report(
        T=config.T, hidden_size=config.hidden_size, input_size=config.input_size, num_seeds=config.num_seeds,
        num_inputs=config.num_inputs, default_condition=plan.default, grid=list(plan.grid),
        config=config.to_dict(), architectures=records, compile_cache_dir=shared.cache_dir, burn_in=w.burn_in,
        lyapunov_burn_in=w.lyapunov_burn_in,
    )
    report.wall_time_s = time.perf_counter() - start
    report.files = gradient_flow.write(report, config, workdir)
    return report
