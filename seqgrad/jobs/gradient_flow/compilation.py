"""Ahead-of-time compilation of the main job's programs: each distinct program compiled once.

Entries that differ only in their initialisation (``lstm_cell_fb0`` … ``lstm_chrono``,
``gru`` and ``gru_update_bias_neg``) lower to the same program once the parameters are
an argument (`seqgrad.jobs.gradient_flow.inputs.params_fn`). A `ProgramCache` keys every
lowered program by its StableHLO text, its arguments' tree, shapes and dtypes, its result
tree and its compiler options, and compiles each key once, also when several threads ask
for it at the same time (the later ones wait for the first). It is an explicit object, created per
`seqgrad.jobs.gradient_flow.run`, not module state. With a `program_store.ProgramStore`
(`program_cache`: beside the persistent compilation cache) an entry's compiled programs are kept on
disk and a rerun loads them without tracing or lowering anything.

`options` picks a program's XLA compiler options. With ``config.quick_compile`` on a CPU
backend, the measurement programs compile at a lower LLVM optimisation level
(``xla_backend_optimization_level``; XLA's default is 2): level 1 for the Jacobian stacks
and the page's experiment by the truncated definition, which run for seconds and run as
fast at level 1, and level 0 for the Lyapunov exponents and the one-pass seed experiment
of `attribution.STATE_SITES`, which run for a fraction of a second. Measured, compile / run
in seconds at the default level, level 1 and level 0: mLSTM stacks 4.5 / 11.8, 2.4 / 12.2,
1.4 / 21.7; Transformer stacks 3.5 / 18.3, 3.1 / 17.4, 2.3 / 39.3; s6 seed experiment
4.1 / 4.4, 2.8 / 4.6, 2.3 / 8.3; GRU Lyapunov + seed experiment 5.5 / 0.2, 3.7 / 0.2,
3.2 / 0.4. The timed step (the table's time per step) keeps the default level.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np

from seqgrad.gradflow import attribution
from seqgrad.jobs.gradient_flow import inputs, program_store, programs
from seqgrad.jobs.gradient_flow.config import Windows
from seqgrad.jobs.gradient_flow.entries import Entry


LEVEL = "xla_backend_optimization_level"


def options(entry, config, part: str) -> dict:
    """XLA compiler options of ``entry``'s program ``part``: a `seqgrad.jobs.gradient_flow.programs.PARTS` name,
    ``"init"``, ``"spectra"`` (the SVDs), ``"recheck"`` (the float64 norms) or ``"step"`` (timed:
    always the defaults)."""
    if not config.get("quick_compile", False) or jax.default_backend() != "cpu" or part == "step":
        return {}
    if part == "lyapunov" or (part == "seed_experiment" and attribution.state_site(entry.model) is not None):
        return {LEVEL: 0}
    return {LEVEL: 1}


class ProgramCache:
    """Compiled executables keyed by (lowered program, compiler options); thread-safe.

    ``hits`` counts the compilations saved. ``store`` (optional) keeps every entry's traced programs on
    disk between runs (`lower`).
    """

    def __init__(self, store: program_store.ProgramStore | None = None, cache_dir: str | None = None):
        self._lock = threading.Lock()
        self._compiled: dict[str, concurrent.futures.Future] = {}
        self.hits = 0
        self.store = store
        self.cache_dir = cache_dir  # the persistent compilation cache's directory, where `program_cache` turned it on

    def lower(self, entry: Entry, description: list, make) -> dict:
        """``{name: lowered program}`` of ``make() = {name: (jitted function, abstract arguments)}``; through
        the ``store`` where there is one and ``entry`` is `program_store.storable` (a rerun then traces nothing).
        ``description``: the programs and their arguments' shapes, as text."""
        if self.store is None or not program_store.storable(entry):
            return {name: fn.lower(*args) for name, (fn, args) in make().items()}
        return self.store.lowered([*program_store.describe(entry), *description], make)

    def compile(self, lowered, compiler_options: dict | None = None):
        """``lowered.compile(compiler_options)``, or the executable already compiled for the same key."""
        # The text alone is not enough: jit drops unused arguments from it, so programs that ignore their
        # parameters (a convolution's empty Lyapunov part) print alike for different parameter trees.
        signature = (lowered.as_text(), repr(lowered.args_info), repr(lowered.out_tree),
                     repr(sorted((compiler_options or {}).items())))
        key = hashlib.sha256("\n".join(signature).encode()).hexdigest()
        with self._lock:
            future = self._compiled.get(key)
            owner = future is None
            if owner:
                future = self._compiled[key] = concurrent.futures.Future()
            else:
                self.hits += 1
        if owner:
            try:
                future.set_result(lowered.compile(compiler_options or None))
            except BaseException as err:
                future.set_exception(err)
        return future.result()

    def __len__(self) -> int:
        return len(self._compiled)


def program_cache(config, workdir: str) -> ProgramCache:
    """The run's `ProgramCache`: turns on JAX's persistent compilation cache (`compilation_cache`; its
    directory is the cache's ``cache_dir``) and keeps the traced programs in ``<cache_dir>/programs``
    (none kept where the persistent cache is off: ``cache_dir`` None)."""
    cache_dir = compilation_cache(config, workdir)
    store = None if cache_dir is None else program_store.ProgramStore(os.path.join(cache_dir, "programs"), config)
    return ProgramCache(store, cache_dir)


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


def _step_args(entry: Entry, config):
    """Params, input ``[T, D]`` and target of the timed pass (seed ``config.seed``, default scale)."""
    params, xs, _, target = inputs.draw(entry, config, jax.random.key(config.seed), config.T, jnp.float32)
    return params, config.default_input_scale * xs[0], target


def compile_step(entry: Entry, config, cache: ProgramCache | None = None):
    """The forward+backward pass the table times (default shapes, B = 1), compiled ahead of time from
    abstract shapes: nothing runs, so it may compile in a thread beside others."""
    cache = ProgramCache() if cache is None else cache
    step_options = options(entry, config, "step")

    def make():
        shapes = jax.eval_shape(lambda: _step_args(entry, config))
        return {"step": (jax.jit(jax.grad(lambda p, x, y: attribution.last_step_loss(entry.model, p, x, y))), shapes)}

    return cache.compile(cache.lower(entry, ["step"], make)["step"], step_options)


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


def compile_measure(entry: Entry, config, drawn, w: Windows, cache: ProgramCache | None = None) -> programs.Measurement:
    """`programs.measure_fn` of ``entry`` compiled ahead of time for ``drawn = (dtype, keys [S], scales [C])``
    (`inputs.measurement_inputs`) and the windows ``w``; runs nothing.

    Each program with its `options`; a program ``cache`` already holds is not compiled again."""
    dtype, keys, scales = drawn
    cache = ProgramCache() if cache is None else cache
    description = ["measure", str(np.dtype(dtype)), list(keys.shape), list(np.shape(scales)), repr(w)]
    opts = {part: options(entry, config, part) for part in (*programs.PARTS, "spectra", "init")}

    with jax.enable_x64(bool(config.float64)):
        lowered = cache.lower(entry, description, lambda: measure_programs(entry, config, drawn, w))
        parts = {part: cache.compile(low, opts[part]) for name, low in lowered.items()
                 if (part := name.removeprefix("part.")) != name}
        stacks = {k: v for k, v in lowered["part.profiles"].out_info.items() if k.startswith("stack/")}
        spectra = None if not stacks else cache.compile(
            programs.spectra_fn().lower({k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in stacks.items()}),
            opts["spectra"])
        init_program, draw_program = (cache.compile(lowered[k], opts["init"]) for k in ("init", "draw"))
        return programs.Measurement(init_program, draw_program, parts, spectra, w)


def measure_programs(entry: Entry, config, drawn, w: Windows) -> dict:
    """``{name: (jitted function, abstract arguments)}``: what `compile_measure` traces, lowers and compiles for
    ``drawn = (dtype, keys [S], scales [C])`` and the windows ``w``: the parameter draw ``"init"``
    (`inputs.params_fn`), the input draw ``"draw"`` (`inputs.data_fn`) and every part of
    `programs.part_fns` as ``"part.<name>"``. Nothing is traced until a program is lowered."""
    dtype, keys, scales = drawn
    init, draw = inputs.params_fn(entry, config, dtype), inputs.data_fn(entry, config, dtype, w.sequence_length)
    params, data = jax.eval_shape(init, keys), jax.eval_shape(draw, keys)
    parts = programs.part_fns(entry, config, dtype, w)
    return {"init": (init, (keys,)), "draw": (draw, (keys,)),
            **{f"part.{name}": (fn, (params, data, scales)) for name, fn in parts.items()}}


def compile_recheck(entry: Entry, config, params, xs, scales, lengths, w: Windows,
                    cache: ProgramCache | None = None):
    """`programs.norms_fn` of ``entry`` at ``lengths`` for float64 ``params`` and inputs ``xs`` like the given
    ones (shapes only), compiled ahead of time (call it under ``jax.enable_x64``); entries that lower to the same
    programs share them through ``cache``."""
    cache = ProgramCache() if cache is None else cache

    def as64(a):
        return jax.ShapeDtypeStruct(a.shape, jnp.float64 if jnp.issubdtype(a.dtype, jnp.floating) else a.dtype)

    with jax.enable_x64(True):
        recheck = programs.norms_fn(entry, config, jnp.float64, lengths, w)
        args = (jax.tree.map(as64, params), as64(xs), jax.ShapeDtypeStruct(scales.shape, jnp.float64))
        description = ["recheck", list(recheck.lengths), repr(jax.tree.map(lambda a: (a.shape, str(a.dtype)), args))]
        lowered = cache.lower(entry, description, lambda: {"stacks": (recheck.stacks, args)})["stacks"]
        stacks = {k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in lowered.out_info.items()
                  if k.startswith("stack/")}
        return programs.Recheck(
            cache.compile(lowered, options(entry, config, "recheck")),
            cache.compile(recheck.top.lower(stacks), options(entry, config, "spectra")), recheck.lengths)


def compile_entry(entry: Entry, config, drawn, w: Windows, cache: ProgramCache):
    """An entry's programs for ``drawn`` (`compile_measure`), compiled ahead of time (nothing executes: safe in
    a thread); the timed step only where ``config.timing.repeats`` > 0."""
    step = compile_step(entry, config, cache) if config.timing.repeats > 0 else None
    return compile_measure(entry, config, drawn, w, cache), step
