"""The gradient-flow analysis of every configured architecture across a grid of conditions.

`run(config, workdir)` is the library side of ``scripts/analyze.py``. For each
entry of ``config.entries`` (an architecture name, its options, a perturbation
site and an initialisation), the compiled programs of `seqgrad.jobs.gradient_flow.measurements`
measure, for every sequence length T and input scale of the grid,
``config.num_seeds`` initialisations and ``config.num_inputs`` input sequences
``x ~ s·N(0, 1)^{T×D}`` per initialisation,

* the state Jacobians ``∂h_{T-1}/∂h_{T-1-d}`` and their singular values, norms
  and condition numbers per distance d;
* per input scale: the Lyapunov exponents of the recurrence over
  ``config.lyapunov.T`` steps and the page's experiment (``‖∂L/∂W‖`` for
  ``L = ‖h_{T'-1} − y‖²`` at every length of ``config.seed_experiment.lengths``
  and its decomposition by distance);

then, on the host (`seqgrad.jobs.gradient_flow.summaries`), per condition: decay rate, fit
quality, memory horizons, regime, profile shape and the norm at fixed distances,
with spreads over initialisations and over inputs apart. The record is typed
(`seqgrad.report.record`); `seqgrad.report` evaluates the claims per condition
and writes the JSON, the summary and the plots.

Speed: every condition of an entry runs in the same few compiled programs
(`seqgrad.jobs.gradient_flow.measurements.PARTS`), compiled ahead of time ``config.workers`` entries at a
time in threads, each distinct program once (`seqgrad.jobs.gradient_flow.programs`, which also
compiles the short-running ones quickly, ``config.quick_compile``); the entries then run one
at a time. JAX's persistent compilation cache (``config.compilation_cache_dir``) makes a
rerun skip compilation.
"""

from __future__ import annotations

import dataclasses
import sys
import time

from seqgrad.gradflow.budget import MAX_EXACT_ELEMENTS
from seqgrad.gradflow.sites import site_width
from seqgrad.jobs.gradient_flow import compilation, conditions, config as config_lib, entries as entries_lib
from seqgrad.jobs.gradient_flow import measurements
from seqgrad.jobs.gradient_flow.config import validate
from seqgrad.report import gradient_flow, progress
from seqgrad.report.record import Report

__all__ = ["run", "validate"]


def run(config, workdir: str) -> Report:
    """Measures every entry of ``config`` in every condition and writes the report into ``workdir``.

    Every entry's programs are first compiled ahead of time, ``config_lib.workers(config)`` at a time
    in threads (XLA compiles without the GIL; compilation executes nothing). Then the
    entries run one at a time: concurrent executions on XLA's CPU thread pool can
    deadlock (two programs each waiting on the pool), so none are ever concurrent, and
    the per-step times of the table are taken on an otherwise idle process.
    Writes ``gradient_flow.json``, ``summary.md`` and the PNG plots (see
    `seqgrad.report.gradient_flow.write`). Returns the typed `Report`.
    """
    entries = entries_lib.build_entries(config)
    for e in entries:
        if config.method == "auto" and e.method == "sketch":
            T, n = max(config.conditions.T), site_width(e.model, e.site)
            print(f"config.method='auto': {e.name} is measured by the sketch (‖J(d)‖_F by probes): its exact stack "
                  f"would hold T·n² = {T}·{n}² = {T * n * n:.3g} numbers per sequence, above "
                  f"{MAX_EXACT_ELEMENTS:.3g}", file=sys.stderr, flush=True)
    cache = compilation.compilation_cache(config, workdir)
    start = time.perf_counter()
    keys = {e.name: measurements.inputs.measurement_inputs(e, config)[1] for e in entries}  # drawn here: the threads execute nothing
    shared = compilation.ProgramCache()  # entries that lower to the same program compile it once
    compiled = progress.run_all(entries, lambda e: compilation.compile_entry(e, config, keys[e.name], shared),
                                workers=config_lib.workers(config), desc="compile", label=lambda e: e.name)
    results = {}
    for entry, (measure_program, step_program) in progress.track(
            list(zip(entries, compiled)), desc="gradient flow", label=lambda item: item[0].name):
        record = measurements.measure_entry(entry, config, measure_program, shared)
        seconds = compilation.time_step(step_program, entry, config) if step_program is not None else float("nan")
        results[entry.name] = dataclasses.replace(record, time_per_step_s=seconds)
    report = Report(
        T=config.T, hidden_size=config.hidden_size, input_size=config.input_size, num_seeds=config.num_seeds,
        num_inputs=config.num_inputs, default_condition=conditions.default(config), grid=conditions.grid(config),
        config=config.to_dict(), architectures=results, compile_cache_dir=cache, burn_in=config_lib.burn_in(config),
    )
    report.wall_time_s = time.perf_counter() - start
    report.files = gradient_flow.write(report, config, workdir)
    return report

