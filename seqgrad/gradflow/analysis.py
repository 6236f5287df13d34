"""The gradient-flow analysis of every configured architecture: measure, summarise, report.

`run(config, workdir)` is the library side of ``scripts/analyze.py``. For each
entry of ``config.entries`` (an architecture name, its options and a perturbation
site) and each of ``config.num_seeds`` initialisations (vmapped), with
``x ~ N(0, 1)^{T×D}`` and a target ``y ~ N(0, 1)^H``, one compiled call measures

* the state Jacobians ``∂h_{T-1}/∂h_{T-1-d}`` and their singular values, spectral
  and Frobenius norms and condition numbers per distance d;
* the Lyapunov exponents of the recurrence over ``config.lyapunov.T`` steps;
* the seed's experiment: ``‖∂L/∂W‖`` for the loss ``‖h_{T'-1} - y‖²`` at every
  length T' of ``config.seed_experiment.lengths``, and its decomposition by
  distance from the loss at length T;

then, on the host, the fitted decay rate and memory horizon per seed, the
float32-underflow status per distance (confirmed by a float64 recomputation when
``config.float64_recheck``), medians and spreads over seeds, and the
forward+backward time per step. `seqgrad.report` writes the JSON, the summary
and the plots.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from seqgrad import models
from seqgrad.gradflow import attribution, decay, jacobians, lyapunov, seeds, spectra
from seqgrad.models.base import check_site

LYAPUNOV_NOT_APPLICABLE = "no recurrence: the model has no step Jacobian to iterate"


@dataclasses.dataclass(frozen=True)
class Entry:
    """One configured analysis entry: a registered architecture with options and a site."""

    name: str
    arch: str
    options: Mapping[str, Any]
    site: str
    model: nn.Module

    @property
    def info(self) -> models.Architecture:
        return models.info(self.arch)


def _positive_int(config, key: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"config.{key}={value!r} is invalid: it must be a positive integer")


def build_entries(config) -> list[Entry]:
    """Validates the config and builds every entry's model; fails before any measurement.

    Raises:
      ValueError: an unknown architecture or option, an invalid value (the
        registry's message, naming the entry), a bad site or a bad number.
    """
    for key in ("T", "input_size", "hidden_size", "num_seeds", "lyapunov.T", "lyapunov.num_exponents",
                "timing.repeats"):
        value = config
        for part in key.split("."):
            value = value[part]
        _positive_int(config, key, value)
    batch = config.seed_experiment.decomposition_batch
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 0:
        raise ValueError(f"config.seed_experiment.decomposition_batch={batch!r} is invalid: an integer >= 0")
    if config.T < 2:
        raise ValueError(f"config.T={config.T!r} is invalid: it must be >= 2")
    if not 0 < config.horizon_threshold < 1:
        raise ValueError(f"config.horizon_threshold={config.horizon_threshold!r} is invalid: it must lie in (0, 1)")
    if not 0 <= config.lyapunov.burn_in < config.lyapunov.T:
        raise ValueError(
            f"config.lyapunov.burn_in={config.lyapunov.burn_in!r} is invalid: it must lie in [0, lyapunov.T)"
        )
    lengths = list(config.seed_experiment.lengths)
    if not lengths or any(not isinstance(n, int) or not 1 <= n <= config.T for n in lengths):
        raise ValueError(
            f"config.seed_experiment.lengths={lengths!r} is invalid: integers in [1, T={config.T}]"
        )
    if not config.entries:
        raise ValueError("config.entries is empty: name at least one architecture")
    entries = []
    for name, spec in config.entries.items():
        options = dict(spec.options.to_dict() if hasattr(spec.options, "to_dict") else spec.options)
        try:
            model = models.create(spec.arch, hidden_size=config.hidden_size, **options)
            check_site(model, spec.site)
        except ValueError as err:
            raise ValueError(f"config.entries.{name}: {err}") from err
        entries.append(Entry(name, spec.arch, options, spec.site, model))
    return entries


def _draw(entry: Entry, config, key, dtype):
    """Params, inputs ``[T, D]``, long inputs ``[T_lyap, D]`` and target ``[H]`` of one seed."""
    k_init, k_x, k_y, k_long = jax.random.split(key, 4)
    x = jax.random.normal(k_x, (config.T, config.input_size), jnp.float32)
    params = entry.model.init(k_init, x[None])
    x_long = jax.random.normal(k_long, (config.lyapunov.T, config.input_size), jnp.float32)
    target = jax.random.normal(k_y, (config.hidden_size,), jnp.float32)
    # Drawn in float32 always, then cast: float32 and float64 runs see the same model.
    return jax.tree.map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a,
                        (params, x, x_long, target))


def _measure_fn(entry: Entry, config, dtype):
    """``keys [S] -> {quantity: [S, ...]}``, jit-compiled once per entry."""
    names = entry.info.recurrent_params
    lengths = tuple(config.seed_experiment.lengths)
    lyap = config.lyapunov

    def one(key):
        params, x, x_long, target = _draw(entry, config, key, dtype)
        out = dict(spectra.summarize(jacobians.state_jacobians(entry.model, params, x, site=entry.site)))
        exponents = lyapunov.lyapunov_exponents(
            entry.model, params, x_long, num_exponents=lyap.num_exponents, burn_in=lyap.burn_in
        )
        if exponents is not None:
            out["lyapunov"] = exponents
        if names:
            batch = config.seed_experiment.decomposition_batch or None
            out["gradient_vs_length"], contributions = attribution.seed_experiment(
                entry.model, params, x, target, names, lengths, batch_size=batch
            )
            out["contribution_norm"] = attribution.contribution_norms(contributions)
            out["gradient_norm"] = attribution.gradient_norm(jax.tree.map(lambda g: g.sum(0), contributions))
        return out

    return jax.jit(jax.vmap(one))


def _norms_fn(entry: Entry, config, dtype):
    """``keys [S] -> spectral norms [S, T]`` only (the float64 recheck)."""

    def one(key):
        params, x, _, _ = _draw(entry, config, key, dtype)
        return spectra.summarize(jacobians.state_jacobians(entry.model, params, x, site=entry.site))["spectral_norm"]

    return jax.jit(jax.vmap(one))


def time_per_step(entry: Entry, config) -> float:
    """Median seconds per time step of one forward+backward pass at the analysis shapes (B = 1)."""
    params, x, _, target = _draw(entry, config, jax.random.key(config.seed), jnp.float32)
    step = jax.jit(jax.grad(lambda p: attribution.last_step_loss(entry.model, p, x, target)))
    jax.block_until_ready(step(params))  # compile
    times = []
    for _ in range(config.timing.repeats):
        start = time.perf_counter()
        jax.block_until_ready(step(params))
        times.append(time.perf_counter() - start)
    return float(np.median(times)) / config.T


def _status(norms32: np.ndarray, norms64: np.ndarray | None, dtype, margin: float) -> np.ndarray:
    if norms64 is None:
        return spectra.zero_status(norms32, dtype, margin)
    status = spectra.zero_status(norms64, jnp.float64, margin)
    return np.where((norms32 == 0) & (norms64 > 0), spectra.UNDERFLOW, status).astype(object)


def _scalar_stats(values) -> dict[str, float]:
    return {k: float(v) for k, v in seeds.median_spread(values).items()}


def summarize_entry(entry: Entry, raw: Mapping[str, np.ndarray], raw64, seconds: float, config, dtype) -> dict:
    """JSON-ready record of one entry from its per-seed measurements (host numpy)."""
    T = config.T
    spectral = np.asarray(raw["spectral_norm"], np.float64)  # [S, T]
    best = spectral if raw64 is None else np.where(spectral > 0, spectral, raw64)
    stats = seeds.median_spread(best)
    fits = [decay.fit_decay_rate(n, min_distance=config.decay_min_distance) for n in best]
    horizons = [decay.memory_horizon(n, config.horizon_threshold) for n in best]
    median32 = np.median(spectral, axis=0)
    median64 = None if raw64 is None else np.median(raw64, axis=0)
    status = _status(median32, median64, dtype, config.underflow_margin_decades)
    underflow = np.nonzero(status == spectra.UNDERFLOW)[0]
    exact_zero = np.nonzero(status == spectra.EXACT_ZERO)[0]
    record = {
        "arch": entry.arch,
        "options": dict(entry.options),
        "site": entry.site,
        "path_length": entry.info.path_length,
        "parallel": entry.info.parallel,
        "paper": entry.info.paper,
        "claim": entry.info.claim,
        "probe_is_state": entry.info.probe_is_state,
        "dtype": np.dtype(dtype).name,
        "distance": list(range(T)),
        "jacobian_norm": stats["median"],
        "jacobian_norm_q25": stats["q25"],
        "jacobian_norm_q75": stats["q75"],
        "jacobian_norm_raw": median32,
        "jacobian_norm_float64": median64,
        "status": status,
        "first_underflow_distance": int(underflow[0]) if underflow.size else None,
        "first_exact_zero_distance": int(exact_zero[0]) if exact_zero.size else None,
        "frobenius_norm": np.median(raw["frobenius_norm"], axis=0),
        "condition_number": np.median(raw["condition_number"], axis=0),
        "singular_values": np.median(raw["singular_values"], axis=0),
        "decay_rate": _scalar_stats([f["rate"] for f in fits]),
        "decay_factor": _scalar_stats([f["factor"] for f in fits]),
        "decay_fit_r2": _scalar_stats([f["r2"] for f in fits]),
        "memory_horizon": _scalar_stats([T if h is None else h for h in horizons]),
        "memory_horizon_censored_at": T,
        "time_per_step_s": seconds,
        "num_seeds": int(spectral.shape[0]),
    }
    if hasattr(entry.model, "receptive_field"):
        record["receptive_field"] = int(entry.model.receptive_field)
    if "lyapunov" in raw:
        lyap = seeds.median_spread(raw["lyapunov"])
        record["lyapunov_exponents"] = lyap["median"]
        record["lyapunov_top"] = _scalar_stats(np.asarray(raw["lyapunov"])[:, 0])
    else:
        record["lyapunov_exponents"] = None
        record["lyapunov_top"] = None
        record["lyapunov_not_applicable"] = LYAPUNOV_NOT_APPLICABLE
    if "gradient_vs_length" in raw:
        contributions = np.asarray(raw["contribution_norm"], np.float64)  # [S, T]
        last = config.seed_experiment.last_steps
        share = contributions[:, :last].sum(1) / np.maximum(contributions.sum(1), np.finfo(np.float64).tiny)
        record["seed_experiment"] = {
            "lengths": list(config.seed_experiment.lengths),
            "gradient_norm": seeds.median_spread(raw["gradient_vs_length"]),
            "contribution_norm": seeds.median_spread(contributions),
            "full_gradient_norm": _scalar_stats(raw["gradient_norm"]),
            "last_steps": last,
            "share_of_last_steps": _scalar_stats(share),
        }
    else:
        record["seed_experiment"] = None
        record["seed_experiment_not_applicable"] = attribution.NOT_APPLICABLE
    return record


def measure(entry: Entry, config) -> dict:
    """All measurements of one entry, summarised (see `summarize_entry`)."""
    dtype = jnp.float64 if config.float64 else jnp.float32
    keys = seeds.keys(config.seed, config.num_seeds)
    with jax.enable_x64(bool(config.float64)):
        raw = jax.tree.map(np.asarray, _measure_fn(entry, config, dtype)(keys))
    raw64 = None
    if not config.float64 and config.float64_recheck and np.any(raw["spectral_norm"] == 0):
        with jax.enable_x64(True):
            raw64 = np.asarray(_norms_fn(entry, config, jnp.float64)(keys), np.float64)
    seconds = time_per_step(entry, config)
    return summarize_entry(entry, raw, raw64, seconds, config, dtype)


def run(config, workdir: str) -> dict:
    """Measures every entry of ``config`` and writes the report into ``workdir``.

    Writes ``gradient_flow.json``, ``summary.md`` and the PNG plots (see
    `seqgrad.report.gradient_flow.write`). Returns the JSON-ready results.
    """
    from seqgrad.report import gradient_flow, progress

    entries = build_entries(config)
    start = time.perf_counter()
    results = {}
    for entry in progress.track(entries, desc="gradient flow", label=lambda e: e.name):
        results[entry.name] = measure(entry, config)
    report = {
        "T": config.T,
        "hidden_size": config.hidden_size,
        "input_size": config.input_size,
        "num_seeds": config.num_seeds,
        "config": config.to_dict(),
        "architectures": results,
    }
    report["wall_time_s"] = time.perf_counter() - start
    report["files"] = gradient_flow.write(report, config, workdir)
    return report
