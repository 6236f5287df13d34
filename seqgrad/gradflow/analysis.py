"""The gradient-flow analysis of every configured architecture across a grid of conditions.

`run(config, workdir)` is the library side of ``scripts/analyze.py``. For each
entry of ``config.entries`` (an architecture name, its options, a perturbation
site and an initialisation), the compiled programs of `seqgrad.gradflow.measure`
measure, for every sequence length T and input scale of the grid,
``config.num_seeds`` initialisations and ``config.num_inputs`` input sequences
``x ~ s·N(0, 1)^{T×D}`` per initialisation,

* the state Jacobians ``∂h_{T-1}/∂h_{T-1-d}`` and their singular values, norms
  and condition numbers per distance d;
* per input scale: the Lyapunov exponents of the recurrence over
  ``config.lyapunov.T`` steps and the seed's experiment (``‖∂L/∂W‖`` for
  ``L = ‖h_{T'-1} − y‖²`` at every length of ``config.seed_experiment.lengths``
  and its decomposition by distance);

then, on the host (`seqgrad.gradflow.summarize`), per condition: decay rate, fit
quality, memory horizons, regime, profile shape and the norm at fixed distances,
with spreads over initialisations and over inputs apart. The record is typed
(`seqgrad.gradflow.record`); `seqgrad.report` evaluates the claims per condition
and writes the JSON, the summary and the plots.

Speed: every condition of an entry runs in the same few compiled programs
(`seqgrad.gradflow.measure.PARTS`), compiled ahead of time ``config.workers`` entries at a
time in threads, each distinct program once (`seqgrad.gradflow.programs`, which also
compiles the short-running ones quickly, ``config.quick_compile``); the entries then run one
at a time. JAX's persistent compilation cache (``config.compilation_cache_dir``) makes a
rerun skip compilation.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import ml_collections
import jax.numpy as jnp
import numpy as np

from seqgrad import checks, models, modelspec, resources
from seqgrad.gradflow import (attribution, conditions, extra_entries, measure, predictions, profile, programs, seeds,
                              spectra, summarize, trained)
from seqgrad.gradflow.record import EntryRecord, Report, Stats
from seqgrad.models.base import check_site
from seqgrad.models import handwritten_vjp

LYAPUNOV_NOT_APPLICABLE = "no recurrence: the model has no step Jacobian to iterate"


@dataclasses.dataclass(frozen=True)
class Entry:
    """One configured analysis entry: a registered architecture with options, a site and an initialisation."""

    name: str
    arch: str
    options: Mapping[str, Any]
    site: str
    model: nn.Module
    init: str = ""
    workdir: str | None = None  # a trained run whose parameters are measured (None: initialisations)
    modules: int = 0  # clockwork modules whose diagonal blocks are measured (0: none)
    method: str = "exact"  # how the state Jacobians are measured (`seqgrad.gradflow.profile.choose_method`)
    trained: Any = dataclasses.field(default=None, compare=False)  # `trained.TrainedRun` of ``workdir``

    @property
    def info(self) -> models.Architecture:
        return models.info(self.arch)


def _positive_int(key: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"config.{key}={value!r} is invalid: it must be a positive integer")


def _get(config, key: str):
    for part in key.split("."):
        config = config[part]
    return config


def validate(config) -> None:
    """Raises a one-line `ValueError` for a bad number in ``config`` (entries aside)."""
    checks.config_numbers(config, checks.ANALYSIS_RANGES)
    resources.check_analysis(config)
    for key in ("T", "input_size", "hidden_size", "num_seeds", "num_inputs", "lyapunov.T",
                "lyapunov.num_exponents", "regime.block", "seed_experiment.max_length_by_definition"):
        _positive_int(key, _get(config, key))
    repeats = config.timing.repeats
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 0:
        raise ValueError(f"config.timing.repeats={repeats!r} is invalid: an integer >= 0 (0: no timing)")
    if not isinstance(config.get("quick_compile", False), bool):
        raise ValueError(f"config.quick_compile={config.quick_compile!r} is invalid; valid choices: [True, False]")
    n = config.get("workers", 0)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"config.workers={n!r} is invalid: an integer >= 0 (0: one per CPU core, at most 4)")
    n = config.get("sequence_batch", 0)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"config.sequence_batch={n!r} is invalid: an integer >= 0 (0: by architecture)")
    batch = config.seed_experiment.decomposition_batch
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 0:
        raise ValueError(f"config.seed_experiment.decomposition_batch={batch!r} is invalid: an integer >= 0")
    if config.T < 2:
        raise ValueError(f"config.T={config.T!r} is invalid: it must be >= 2")
    if not 0 < config.horizon_threshold < 1:
        raise ValueError(f"config.horizon_threshold={config.horizon_threshold!r} is invalid: it must lie in (0, 1)")
    if config.method not in profile.METHODS:
        raise ValueError(f"config.method={config.method!r} is invalid; valid choices: {list(profile.METHODS)}")
    lyap_burn_in = config.lyapunov.burn_in
    if isinstance(lyap_burn_in, bool) or not isinstance(lyap_burn_in, int) or lyap_burn_in < -1:
        raise ValueError(f"config.lyapunov.burn_in={lyap_burn_in!r} is invalid: an integer >= 0, or -1 (config.burn_in)")
    if not measure.lyapunov_burn_in(config) < config.lyapunov.T:
        raise ValueError(f"config.lyapunov.burn_in={lyap_burn_in!r} (steps: {measure.lyapunov_burn_in(config)}) is "
                         f"invalid: it must be below lyapunov.T={config.lyapunov.T}")
    sketch = config.get("sketch")
    if sketch is not None:
        _positive_int("sketch.num_probes", sketch.num_probes)
        for key in ("num_singular", "remat_block"):
            value = sketch[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"config.sketch.{key}={value!r} is invalid: an integer >= 0 (0: off)")
    lengths = list(config.seed_experiment.lengths)
    if not lengths or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in lengths):
        raise ValueError(f"config.seed_experiment.lengths={lengths!r} is invalid: positive integers "
                         "(each condition of length T uses those up to T, and T)")
    B = config.get("burn_in", 0)
    if isinstance(B, bool) or not isinstance(B, int) or B < 0:
        raise ValueError(f"config.burn_in={B!r} is invalid: an integer >= 0 (0: profiles from the zero state)")
    conditions.validate(config)


def build_entries(config) -> list[Entry]:
    """Validates the config and builds every entry's model; fails before any measurement.

    Raises:
      ValueError: an unknown architecture or option, an invalid value (the
        registry's message, naming the entry), a bad site, init or number.
    """
    validate(config)
    named = extra_entries.entries(config)  # config.entries, then those of config.extra_entries
    if not named:
        raise ValueError("config.entries is empty: name at least one architecture")
    entries = []
    for name, spec in named:
        model_spec = modelspec.normalize(spec, where=f"config.entries.{name}")  # `name`, or its alias `arch`
        arch, options, init = model_spec.name, model_spec.options, spec.get("init", "") or ""
        run = _trained_run(name, spec, arch, init)
        try:
            if run is None:
                model = models.create(arch, hidden_size=config.hidden_size, **options)
            else:
                model, options = run.trainer.model, dict(run.config.model.get("options", {}) or {})
            check_site(model, spec.site)
        except ValueError as err:
            raise ValueError(f"config.entries.{name}: {err}") from err
        conditions.check_init(name, arch, init)
        modules = int(getattr(model, "num_modules", 0)) if arch == "multiscale_rnn" else 0
        width, T = profile.site_width(model, spec.site), max(config.conditions.T)
        method = profile.choose_method(T, width, config.method)
        entries.append(Entry(name, arch, options, spec.site, model, init, spec.get("workdir") or None, modules,
                             method, run))
    return entries


def _trained_run(name: str, spec, arch: str, init: str):
    """The `trained.TrainedRun` of ``config.entries.NAME.workdir`` (None without one); one-line errors."""
    path = spec.get("workdir") or ""
    if not path:
        return None
    key = f"config.entries.{name}.workdir={path!r}"
    if init:
        raise ValueError(f"config.entries.{name}.init={init!r} is invalid with {key}: a trained run's parameters "
                         "are restored, not initialised; set init to ''")
    try:
        run = trained.load(path)
    except ValueError as err:
        raise ValueError(f"{key}: {err}") from None
    ran = run.config.model.get("name") or run.config.model.get("arch")
    if ran != arch:
        raise ValueError(f"{key} holds a {ran!r} run but the entry names arch={arch!r}: set "
                         f"config.entries.{name}.arch={ran!r} or give the workdir to a {ran!r} entry")
    return run


def _on_task(entry: Entry, config) -> dict:
    """A trained entry's ``trained`` record: its run and `learned.measure` on the task's own sequences
    (input-Jacobian profile, marker share, gate statistics, state-Jacobian norms), replica means."""
    from seqgrad.gradflow import learned

    run = entry.trained
    inputs, _, _ = run.trainer.task.batch(jax.random.key(config.seed), config.trained.num_sequences)
    spec = ml_collections.ConfigDict({"gate_threshold": config.trained.gate_threshold,
                                      "jacobian_sequences": config.trained.jacobian_sequences,
                                      "distances": [d for d in config.fixed_distances if d < inputs.shape[1]]})
    rows = [learned.measure(run, run.replica(r), inputs, spec) for r in range(len(run.trainer.replicas))]
    return {"workdir": run.workdir, "step": run.step, "eval": run.eval, "replicas": len(rows),
            "task": run.config.task.name, "task_length": int(inputs.shape[1]), "on_task": learned.mean_rows(rows)}


def _step_args(entry: Entry, config):
    """Params, input ``[T, D]`` and target of the timed pass (seed ``config.seed``, default scale)."""
    params, xs, _, target = measure.draw(entry, config, jax.random.key(config.seed), config.T, jnp.float32)
    return params, config.default_input_scale * xs[0], target


def compile_step(entry: Entry, config, cache: programs.ProgramCache | None = None):
    """The forward+backward pass the table times (default shapes, B = 1), compiled ahead of time from
    abstract shapes: nothing runs, so it may compile in a thread beside others."""
    shapes = jax.eval_shape(lambda: _step_args(entry, config))
    step = jax.jit(jax.grad(lambda p, x, y: attribution.last_step_loss(entry.model, p, x, y)))
    cache = programs.ProgramCache() if cache is None else cache
    return cache.compile(step.lower(*shapes), programs.options(entry, config, "step"))


def time_step(compiled, entry: Entry, config) -> float:
    """Median seconds per time step of ``compiled`` (from `compile_step`) over ``config.timing.repeats`` calls."""
    args = _step_args(entry, config)
    jax.block_until_ready(compiled(*args))  # warm
    times = []
    for _ in range(config.timing.repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        times.append(time.perf_counter() - start)
    return float(np.median(times)) / config.T


def time_per_step(entry: Entry, config) -> float:
    """Median seconds per time step of one forward+backward pass at the default shapes (B = 1)."""
    return time_step(compile_step(entry, config), entry, config)


def _suspect_underflow(norms: np.ndarray, dtype, margin: float) -> bool:
    """Whether some zero of ``norms [..., T]`` follows a tiny norm (a possible float32 underflow)."""
    flat = np.asarray(norms, np.float64).reshape(-1, norms.shape[-1])
    return any(spectra.UNDERFLOW in spectra.zero_status(n, dtype, margin) for n in flat if np.any(n == 0))


def _inputs(entry: Entry, config):
    """``(dtype, keys [S], scales [C])`` of an entry's measurement."""
    dtype = jnp.float64 if config.float64 else jnp.float32
    keys = seeds.keys(config.seed, measure.num_seeds(entry, config))
    return dtype, keys, np.asarray(config.conditions.input_scale, np.float32)


def compile_measure(entry: Entry, config, keys, cache: programs.ProgramCache | None = None) -> measure.Measurement:
    """`measure.measure_fn` of ``entry`` compiled ahead of time for ``keys`` (from `_inputs`); runs nothing.

    Each program with its `programs.options`; a program ``cache`` already holds is not compiled again."""
    dtype, _, scales = _inputs(entry, config)
    cache = programs.ProgramCache() if cache is None else cache
    with jax.enable_x64(bool(config.float64)):
        init = measure.params_fn(entry, config, dtype)
        params = jax.eval_shape(init, keys)
        lowered = {name: fn.lower(params, keys, scales) for name, fn in measure.part_fns(entry, config, dtype).items()}
        parts = {name: cache.compile(low, programs.options(entry, config, name)) for name, low in lowered.items()}
        stacks = {k: v for k, v in lowered["profiles"].out_info.items() if k.startswith("stack/")}
        spectra = None if not stacks else cache.compile(
            measure.spectra_fn().lower({k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in stacks.items()}),
            programs.options(entry, config, "spectra"))
        init_program = cache.compile(init.lower(keys), programs.options(entry, config, "init"))
        return measure.Measurement(init_program, parts, spectra, measure.lengths_of(config))


def compile_recheck(entry: Entry, config, keys, scales, lengths, cache: programs.ProgramCache | None = None):
    """`measure.norms_fn` of ``entry`` at ``lengths``, compiled ahead of time (float64; call it under
    ``jax.enable_x64``); entries that lower to the same programs share them through ``cache``."""
    cache = programs.ProgramCache() if cache is None else cache
    with jax.enable_x64(True):
        recheck = measure.norms_fn(entry, config, jnp.float64, lengths)
        scales64 = np.asarray(scales, np.float64)
        params = jax.eval_shape(recheck.init, keys)
        lowered = recheck.stacks.lower(params, keys, scales64)
        stacks = {k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in lowered.out_info.items()
                  if k.startswith("stack/")}
        return measure.Recheck(
            cache.compile(recheck.init.lower(keys), programs.options(entry, config, "init")),
            cache.compile(lowered, programs.options(entry, config, "recheck")),
            cache.compile(recheck.top.lower(stacks), programs.options(entry, config, "spectra")), recheck.lengths)


def _measure_raw(entry, config, dtype, keys, scales, compiled=None, cache: programs.ProgramCache | None = None):
    """Raw arrays ``{quantity: [C, S, ...]}``, and ``{T: float64 spectral norms [C, S, I, T]}`` for every
    length T where a float32 zero may be an underflow (empty when none is)."""
    with jax.enable_x64(bool(config.float64)):
        fn = compiled or measure.measure_fn(entry, config, dtype)
        raw = jax.tree.map(np.asarray, fn(keys, scales))
    recheck = config.float64_recheck and not config.float64 and entry.method == "exact"  # a sketch has no stack
    suspect = () if not recheck else tuple(
        T for T in measure.lengths_of(config)
        if _suspect_underflow(raw[f"T{T}/spectral_norm"], dtype, config.underflow_margin_decades))
    if not suspect:
        return raw, {}
    program = compile_recheck(entry, config, keys, scales, suspect, cache)
    with jax.enable_x64(True):
        return raw, program(keys, np.asarray(scales, np.float64))


def measure_entry(entry: Entry, config, compiled=None, cache: programs.ProgramCache | None = None) -> EntryRecord:
    """Every condition of one entry, summarised; top-level fields are the default condition's.

    ``compiled``: its `compile_measure` (compiled here when None); ``cache``: the programs already
    compiled (the float64 recheck's are shared by entries that lower alike)."""
    dtype, keys, scales = _inputs(entry, config)
    default = conditions.default(config)
    raw, raw64 = _measure_raw(entry, config, dtype, keys, scales, compiled, cache)
    by_condition, default_raw = {}, None
    for c, scale in enumerate(config.conditions.input_scale):
        # Lyapunov exponents and the seed experiment depend on the input scale, not on T.
        # Lyapunov exponents depend on the input scale, not on T.
        extras = {
            "lyapunov": raw["lyapunov"][c] if "lyapunov" in raw else None,
            **{k: raw[k][c] for k in summarize.PER_SCALE if k in raw},
        }
        for T in config.conditions.T:
            cond, pre = conditions.Condition(float(scale), int(T)), f"T{T}/"
            at = {k[len(pre):]: v[c] for k, v in raw.items() if k.startswith(pre)}
            at64 = raw64[T][c] if T in raw64 else None
            experiment = (summarize.seed_experiment(at, config, measure.seed_experiment_lengths(config, T))
                          if "gradient_vs_length" in at else None)
            prediction = None if entry.trained is not None else predictions.predict(
                entry.arch, entry.options, entry.site, float(scale), entry.init)
            by_condition[cond] = summarize.condition_measures(
                cond, at["spectral_norm"], at64, config, dtype, module_norm=at.get("module_norm"),
                singular_values=at["singular_values"], inf_norm=at.get("inf_norm"), seed_experiment=experiment,
                prediction=prediction, **extras)
            if cond == default:
                default_raw = ({**at, **{k: v[c] for k, v in raw.items() if "/" not in k}}, at64)
    measured = [by_condition[c] for c in conditions.grid(config)]
    return _entry_record(entry, config, dtype, by_condition[default], default_raw, measured)


def _entry_record(entry, config, dtype, m, default_raw, measured) -> EntryRecord:
    raw, raw64 = default_raw
    T = m.T
    spectral = np.asarray(raw["spectral_norm"], np.float64).reshape(-1, T)
    lyap = raw.get("lyapunov")
    note = summarize.READOUT_OF.get(entry.arch)
    median = lambda key: np.median(np.asarray(raw[key]).reshape(-1, *raw[key].shape[2:]), axis=0)  # noqa: E731
    return EntryRecord(
        arch=entry.arch, options=dict(entry.options), site=entry.site, path_length=entry.info.path_length,
        parallel=entry.info.parallel, paper=entry.info.paper, claim=entry.info.claim,
        probe_is_state=entry.info.probe_is_state, dtype=np.dtype(dtype).name, method=entry.method,
        distance=list(range(T)), jacobian_norm=m.jacobian_norm, jacobian_norm_q25=m.jacobian_norm_q25,
        jacobian_norm_q75=m.jacobian_norm_q75, jacobian_norm_raw=np.median(spectral, axis=0),
        jacobian_norm_float64=None if raw64 is None else np.median(np.reshape(raw64, (-1, T)), axis=0),
        status=m.status, first_underflow_distance=m.first_underflow_distance,
        first_exact_zero_distance=m.first_exact_zero_distance, frobenius_norm=median("frobenius_norm"),
        condition_number=median("condition_number"), singular_values=median("singular_values"),
        decay_rate=m.decay_rate,
        decay_factor=Stats(*(float(np.exp(v)) for v in (m.decay_rate.median, m.decay_rate.q25, m.decay_rate.q75))),
        decay_fit_r2=m.decay_fit_r2, memory_horizon=m.memory_horizon, first_drop_horizon=m.first_drop_horizon,
        memory_horizon_censored_at=T, regime=m.regime, shape=m.shape,
        time_per_step_s=float("nan"), time_implementation=handwritten_vjp.implementation(entry.model),
        num_seeds=measure.num_seeds(entry, config), num_inputs=config.num_inputs,
        lyapunov_exponents=None if lyap is None else seeds.median_spread(lyap)["median"],
        lyapunov_top=m.lyapunov_top,
        lyapunov_note=None if lyap is None or note is None else f"the exponents are those of {note}",
        lyapunov_not_applicable=LYAPUNOV_NOT_APPLICABLE if lyap is None else None,
        seed_experiment=m.seed_experiment,
        seed_experiment_not_applicable=attribution.NOT_APPLICABLE if m.seed_experiment is None else None,
        conditions=measured, receptive_field=getattr(entry.model, "receptive_field", None), modules=m.modules,
        profile_norm="frobenius" if entry.method == "sketch" else "spectral",
        lyapunov_zero_directions=m.lyapunov_zero_directions,
        burn_in=measure.burn_in(config), timescale=m.timescale, cut_off_distance=m.cut_off_distance,
        regime_by_ratio=m.regime_by_ratio, lyapunov_singular=m.lyapunov_singular, prediction=m.prediction,
        regime_rate=m.regime_rate,
        workdir=entry.workdir, trained=None if entry.trained is None else _on_task(entry, config),
    )


def compilation_cache(config, workdir: str) -> str | None:
    """Turns on JAX's persistent compilation cache; returns its directory (None: off).

    ``config.compilation_cache_dir``: ``""`` uses ``$XDG_CACHE_HOME/seqgrad/jax``
    (``~/.cache/seqgrad/jax``), ``"none"`` turns it off, anything else is the directory.
    """
    path = config.compilation_cache_dir
    if path == "none":
        return None
    if not path:
        root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = os.path.join(root, "seqgrad", "jax")
    os.makedirs(path, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path


def workers(config) -> int:
    """Entries compiled at once: ``config.workers``, or (0) one per CPU core available, at most 4."""
    if not isinstance(config.get("quick_compile", False), bool):
        raise ValueError(f"config.quick_compile={config.quick_compile!r} is invalid; valid choices: [True, False]")
    n = config.get("workers", 0)
    if n:
        return int(n)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


def _compile(entry: Entry, config, keys, cache: programs.ProgramCache):
    """An entry's programs, compiled ahead of time (nothing executes: safe in a thread); the timed step
    only where ``config.timing.repeats`` > 0."""
    step = compile_step(entry, config, cache) if config.timing.repeats > 0 else None
    return compile_measure(entry, config, keys, cache), step


def run(config, workdir: str) -> Report:
    """Measures every entry of ``config`` in every condition and writes the report into ``workdir``.

    Every entry's programs are first compiled ahead of time, ``workers(config)`` at a time
    in threads (XLA compiles without the GIL; compilation executes nothing). Then the
    entries run one at a time: concurrent executions on XLA's CPU thread pool can
    deadlock (two programs each waiting on the pool), so none are ever concurrent, and
    the per-step times of the table are taken on an otherwise idle process.
    Writes ``gradient_flow.json``, ``summary.md`` and the PNG plots (see
    `seqgrad.report.gradient_flow.write`). Returns the typed `Report`.
    """
    from seqgrad.report import gradient_flow, progress

    entries = build_entries(config)
    for e in entries:
        if config.method == "auto" and e.method == "sketch":
            T, n = max(config.conditions.T), profile.site_width(e.model, e.site)
            print(f"config.method='auto': {e.name} is measured by the sketch (‖J(d)‖_F by probes): its exact stack "
                  f"would hold T·n² = {T}·{n}² = {T * n * n:.3g} numbers per sequence, above "
                  f"{profile.MAX_EXACT_ELEMENTS:.3g}", file=sys.stderr, flush=True)
    cache = compilation_cache(config, workdir)
    start = time.perf_counter()
    keys = {e.name: _inputs(e, config)[1] for e in entries}  # drawn here: the threads execute nothing
    shared = programs.ProgramCache()  # entries that lower to the same program compile it once
    compiled = progress.run_all(entries, lambda e: _compile(e, config, keys[e.name], shared),
                                workers=workers(config), desc="compile", label=lambda e: e.name)
    results = {}
    for entry, (measure_program, step_program) in progress.track(
            list(zip(entries, compiled)), desc="gradient flow", label=lambda item: item[0].name):
        record = measure_entry(entry, config, measure_program, shared)
        seconds = time_step(step_program, entry, config) if step_program is not None else float("nan")
        results[entry.name] = dataclasses.replace(record, time_per_step_s=seconds)
    report = Report(
        T=config.T, hidden_size=config.hidden_size, input_size=config.input_size, num_seeds=config.num_seeds,
        num_inputs=config.num_inputs, default_condition=conditions.default(config), grid=conditions.grid(config),
        config=config.to_dict(), architectures=results, compile_cache_dir=cache, burn_in=measure.burn_in(config),
    )
    report.wall_time_s = time.perf_counter() - start
    report.files = gradient_flow.write(report, config, workdir)
    return report
