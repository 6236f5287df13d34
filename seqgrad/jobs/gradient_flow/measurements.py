"""Step 4 of the main job: one entry measured in every condition, then summarised (`summaries`).

The compiled programs (`programs`, compiled by `compilation`) run once per entry over all
conditions; where a float32 zero may be an underflow the float64 recheck runs on the
suspect lengths only.
"""

from __future__ import annotations

import jax
import numpy as np

from seqgrad.gradflow import predictions, spectra
from seqgrad.jobs.gradient_flow import compilation, conditions, inputs, programs, summaries
from seqgrad.jobs.gradient_flow.config import lengths_of, snippet_lengths
from seqgrad.jobs.gradient_flow.entries import Entry
from seqgrad.report.record import EntryRecord


def _suspect_underflow(norms: np.ndarray, dtype, margin: float) -> bool:
    """Whether some zero of ``norms [..., T]`` follows a tiny norm (a possible float32 underflow)."""
    flat = np.asarray(norms, np.float64).reshape(-1, norms.shape[-1])
    return any(spectra.UNDERFLOW in spectra.zero_status(n, dtype, margin) for n in flat if np.any(n == 0))


def _measure_raw(entry, config, dtype, keys, scales, compiled=None, cache: compilation.ProgramCache | None = None):
    """Raw arrays ``{quantity: [C, S, ...]}``, and ``{T: float64 spectral norms [C, S, I, T]}`` for every
    length T where a float32 zero may be an underflow (empty when none is)."""
    with jax.enable_x64(bool(config.float64)):
        fn = compiled or programs.measure_fn(entry, config, dtype)
        raw = jax.tree.map(np.asarray, fn(keys, scales))
    recheck = config.float64_recheck and not config.float64 and entry.method == "exact"  # a sketch has no stack
    suspect = () if not recheck else tuple(
        T for T in lengths_of(config)
        if _suspect_underflow(raw[f"T{T}/spectral_norm"], dtype, config.underflow_margin_decades))
    if not suspect:
        return raw, {}
    program = compilation.compile_recheck(entry, config, keys, scales, suspect, cache)
    with jax.enable_x64(True):
        return raw, program(keys, np.asarray(scales, np.float64))


def measure_entry(entry: Entry, config, compiled=None, cache: compilation.ProgramCache | None = None) -> EntryRecord:
    """Every condition of one entry, summarised; top-level fields are the default condition's.

    ``compiled``: its `compile_measure` (compiled here when None); ``cache``: the programs already
    compiled (the float64 recheck's are shared by entries that lower alike)."""
    dtype, keys, scales = inputs.measurement_inputs(entry, config)
    default = conditions.default(config)
    raw, raw64 = _measure_raw(entry, config, dtype, keys, scales, compiled, cache)
    by_condition, default_raw = {}, None
    for c, scale in enumerate(config.conditions.input_scale):
        # Lyapunov exponents and the page's experiment depend on the input scale, not on T.
        # Lyapunov exponents depend on the input scale, not on T.
        extras = {
            "lyapunov": raw["lyapunov"][c] if "lyapunov" in raw else None,
            **{k: raw[k][c] for k in summaries.PER_SCALE if k in raw},
        }
        for T in config.conditions.T:
            cond, pre = conditions.Condition(float(scale), int(T)), f"T{T}/"
            at = {k[len(pre):]: v[c] for k, v in raw.items() if k.startswith(pre)}
            at64 = raw64[T][c] if T in raw64 else None
            experiment = (summaries.snippet_experiment(at, config, snippet_lengths(config, T))
                          if "gradient_vs_length" in at else None)
            prediction = None if entry.trained is not None else predictions.predict(
                entry.arch, entry.options, entry.site, float(scale), entry.init)
            by_condition[cond] = summaries.condition_measures(
                cond, at["spectral_norm"], at64, config, dtype, module_norm=at.get("module_norm"),
                singular_values=at["singular_values"], inf_norm=at.get("inf_norm"), seed_experiment=experiment,
                prediction=prediction, **extras)
            if cond == default:
                default_raw = ({**at, **{k: v[c] for k, v in raw.items() if "/" not in k}}, at64)
    measured = [by_condition[c] for c in conditions.grid(config)]
    return summaries.entry_record(entry, config, dtype, by_condition[default], default_raw, measured)
