"""From per-seed, per-input measurements (host numpy) to the typed record of one entry.

The raw arrays of `seqgrad.jobs.gradient_flow.measurements` are ``[C, S, I, T, ...]`` (input
scale, initialisation, input sequence, distance). Per sequence: the fitted decay
rate, its r², the memory horizon (last distance above ``threshold·‖J(1)‖``) and
the first-drop horizon; per condition: their statistics (`Stats`, spreads over
initialisations and over inputs apart), the median profile over seeds × inputs,
its regime and shape, and the norm at the fixed distances of
``config.fixed_distances``. Zeros of float32 norms are classified as underflow
or exact (`seqgrad.gradflow.spectra.zero_status`), with the float64 value used
where a recheck measured it.

Per-scale extras (``[S]`` per condition, the keys of `PER_SCALE`): the number of
exactly-zero Lyapunov directions (total over seeds), the excess of the measured
∞-norms over a proven bound ``ρ^d`` (`bound_excess`) and the ratio
``variance_ratio`` (RG-LRU: Var(h_t)/[(1 − ∏_{s≤t} a_s²)·Var(i_t ⊙ u_t)], 1 where the closed form holds) of the architecture's optional measures (the ``state_jacobian_bound`` and
``state_variance_ratio`` fields of its `seqgrad.models.Architecture` record).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from seqgrad.gradflow import attribution, predictions, profile_summary, seeds, spectra
from seqgrad.jobs.gradient_flow import config as config_lib
from seqgrad.models import handwritten_vjp
from seqgrad.report.record import Condition, EntryRecord, Measures, Stats

# Architectures whose recurrence is a plain RNN under a read-out that never feeds back:
# their Lyapunov exponents are those of that RNN.
# Raw per-scale quantities ``[C, S]`` of `seqgrad.jobs.gradient_flow.measurements` that `condition_measures` takes by name.
PER_SCALE = ("lyapunov_zero_directions", "log_bound", "variance_ratio")

READOUT_OF = {"attention_rnn": "the Elman RNN under it (the attention is a read-out that never feeds the recurrence)"}


def stats(values) -> Stats:
    """`Stats` of ``[S, I]`` values (or ``[S]``: one input per seed); nans ignored (`seeds.stats`)."""
    return Stats(**seeds.stats(values))


def _sequences(a: np.ndarray) -> np.ndarray:
    """``[S, I, ...] -> [S·I, ...]``: one row per sequence, with explicit sizes (a sketch's singular values
    may have r = 0 columns, which ``reshape(-1, ...)`` cannot place)."""
    return a.reshape(a.shape[0] * a.shape[1], *a.shape[2:])


def status(norms32: np.ndarray, norms64: np.ndarray | None, dtype, margin: float) -> np.ndarray:
    """``[T]`` measured / underflow / exact_zero of a median profile (float64 confirms a zero's cause)."""
    if norms64 is None:
        return spectra.zero_status(norms32, dtype, margin)
    exact = spectra.zero_status(norms64, jnp.float64, margin)
    return np.where((norms32 == 0) & (norms64 > 0), spectra.UNDERFLOW, exact).astype(object)


def _first(status_: np.ndarray, kind: str) -> int | None:
    hits = np.nonzero(status_ == kind)[0]
    return int(hits[0]) if hits.size else None


def bound_excess(inf_norms, log_bound) -> float:
    """``max_{s, i, 1 ≤ d} (ln ‖J_{s,i}(d)‖_∞ − d · ln ρ_s)``: ≤ 0 where ``‖J(d)‖_∞ ≤ ρ^d`` holds everywhere.

    Args:
      inf_norms: ``[S, I, T]`` ∞-norms by distance d.
      log_bound: ``[S]`` ln ρ of each seed's parameters.

    d = 0 is left out (``J(0) = I``, ratio 1 for every ρ); a zero norm (ln 0 = −inf) never
    exceeds. −inf when every norm at d ≥ 1 is 0.
    """
    n = np.asarray(inf_norms, np.float64)
    d = np.arange(n.shape[-1], dtype=np.float64)
    with np.errstate(divide="ignore"):
        excess = np.log(n) - d * np.asarray(log_bound, np.float64)[:, None, None]
    return float(np.max(excess[..., 1:])) if n.shape[-1] > 1 else float("-inf")


def condition_measures(condition: Condition, spectral, spectral64, config, dtype, *, thresholds, lyapunov=None,
                       seed_experiment=None, module_norm=None, singular_values=None, inf_norm=None,
                       lyapunov_zero_directions=None, log_bound=None, variance_ratio=None,
                       prediction=None, lyapunov_steps: int | None = None) -> Measures:
    """`Measures` of one condition from spectral norms ``[S, I, T]`` (and float64 ones, or None) under the
    profile ``thresholds`` (`seqgrad.gradflow.profile_summary.Thresholds`).

    Optional: ``inf_norm`` ``[S, I, T]`` with ``log_bound`` ``[S]`` (ln ρ) give `bound_excess`;
    ``lyapunov_zero_directions`` ``[S]`` counts (over ``lyapunov_steps`` recorded steps), ``variance_ratio`` ``[S]``.
    """
    T = condition.T
    spectral = np.asarray(spectral, np.float64)
    best = spectral if spectral64 is None else np.where(spectral > 0, spectral, spectral64)
    shape2 = best.shape[:2]
    excess = None if log_bound is None or inf_norm is None else bound_excess(inf_norm, log_bound)
    singular = singular_product(lyapunov_zero_directions, config, shape2[0], lyapunov_steps)
    top = None if lyapunov is None else lyapunov_top(lyapunov, lyapunov_zero_directions)
    st = status(np.median(spectral.reshape(-1, T), axis=0),
                None if spectral64 is None else np.median(np.asarray(spectral64).reshape(-1, T), axis=0),
                dtype, config.underflow_margin_decades)
    deviation = float("nan")
    if singular_values is not None:  # [S, I, T, r]
        sv = np.median(_sequences(np.asarray(singular_values, np.float64)), axis=0)
        measured = np.abs(sv - 1.0)[np.isfinite(sv)]  # a sketch has singular values at some distances only
        deviation = float(measured.max()) if measured.size else float("nan")
    med = None if module_norm is None else np.median(  # [T, G]
        np.asarray(module_norm, np.float64).reshape(-1, T, module_norm.shape[-1]), axis=0)
    per_sequence, profile, whole, modules = profile_summary.summarise(
        best.reshape(-1, T), thresholds, exact=st == spectra.EXACT_ZERO, modules=med)
    return Measures(
        singular_value_deviation=deviation,
        spectral_norm_max=float(np.max(spectral)),
        bound_rho=None if excess is None else stats(np.exp(np.asarray(log_bound, np.float64))),
        bound_excess=excess,
        lyapunov_zero_directions=(None if lyapunov_zero_directions is None
                                  else int(np.sum(np.asarray(lyapunov_zero_directions)))),
        variance_ratio=None if variance_ratio is None else stats(variance_ratio),
        condition=condition,
        jacobian_norm=profile["median"],
        jacobian_norm_q25=profile["q25"],
        jacobian_norm_q75=profile["q75"],
        status=st,
        decay_rate=stats(per_sequence["rate"].reshape(shape2)),
        decay_fit_r2=stats(per_sequence["r2"].reshape(shape2)),
        memory_horizon=stats(per_sequence["memory_horizon"].reshape(shape2)),
        first_drop_horizon=stats(per_sequence["first_drop_horizon"].reshape(shape2)),
        regime=whole["regime"],
        shape={k: v for k, v in whole.items() if k not in _NOT_SHAPE},
        regime_by_ratio=whole["regime_by_ratio"],
        regime_rate=stats(per_sequence["envelope_rate"].reshape(shape2)),
        timescale=whole["timescale"],
        cut_off_distance=whole["cut_off_distance"],
        lyapunov_singular=singular,
        prediction=prediction,
        norm_at={str(d): float(profile["median"][d]) for d in config.fixed_distances if d < T},
        first_exact_zero_distance=_first(st, spectra.EXACT_ZERO),
        first_underflow_distance=_first(st, spectra.UNDERFLOW),
        lyapunov_top=top,
        lyapunov_top_between_restarts=None if lyapunov is None else stats(np.asarray(lyapunov)[:, 0]),
        seed_experiment=seed_experiment,
        modules=modules,
    )


# Keys of `profile_summary.of_profile` that are not those of `decay.classify` (the record's ``shape``).
_NOT_SHAPE = ("regime_by_ratio", "decay_rate", "decay_fit_r2", "memory_horizon")


def classify(norms, config, exact=None) -> dict:
    """`profile_summary.of_profile` of one profile (`decay.classify` and the fields it adds) with the
    thresholds of ``config`` (`config.thresholds`)."""
    return profile_summary.of_profile(norms, config_lib.thresholds(config), exact=exact)


def singular_product(zero_directions, config, num_seeds: int, recorded_steps: int | None) -> dict | None:
    """``{"annihilations", "direction_steps", "share"}`` where the tangent product was exactly singular.

    A frame direction annihilated by a step (|R_ii| at rounding level, `seqgrad.models.tangent_frame`)
    means the product of step Jacobians has lost rank there: its exponent is −∞, and the finite
    number measured over the direction's last life between restarts is not an exponent of the
    product. None where no direction was annihilated after the burn-in. ``recorded_steps``: the steps
    after the Lyapunov burn-in (``lyapunov.T − Windows.lyapunov_burn_in``).
    """
    if zero_directions is None:
        return None
    total = int(np.sum(np.asarray(zero_directions)))
    if total == 0:
        return None
    if recorded_steps is None:
        raise ValueError("the recorded Lyapunov steps (lyapunov_steps) are needed to count zero directions")
    steps = num_seeds * int(config.lyapunov.num_exponents) * max(int(recorded_steps), 1)
    return {"annihilations": total, "direction_steps": steps, "share": total / steps}


def lyapunov_top(exponents, zero_directions=None) -> Stats | None:
    """`Stats` of the top exponent over seeds; None where the tangent product was exactly singular
    (`singular_product`): its exponents are then not the finite numbers of restarted frames."""
    if zero_directions is not None and int(np.sum(np.asarray(zero_directions))) > 0:
        return None
    return stats(np.asarray(exponents, np.float64)[:, 0])


def snippet_experiment(raw, config, lengths) -> dict:
    """The page's experiment of one condition from ``[S, ...]`` arrays at ``lengths`` (its gradient norms)."""
    contributions = np.asarray(raw["contribution_norm"], np.float64)  # [S, L]
    last = config.seed_experiment.last_steps
    share = contributions[:, :last].sum(1) / np.maximum(contributions.sum(1), np.finfo(np.float64).tiny)
    return {
        "lengths": [int(n) for n in lengths],
        "gradient_norm": seeds.median_spread(raw["gradient_vs_length"]),
        "contribution_norm": seeds.median_spread(contributions),
        "full_gradient_norm": stats(raw["gradient_norm"]),
        "last_steps": last,
        "share_of_last_steps": stats(share),
    }


LYAPUNOV_NOT_APPLICABLE = "no recurrence: the model has no step Jacobian to iterate"


def entry_record(entry, config, dtype, m, default_raw, measured, w) -> EntryRecord:
    trained = None if entry.trained is None else trained_record(entry, config)
    raw, raw64 = default_raw
    T = m.T
    spectral = np.asarray(raw["spectral_norm"], np.float64).reshape(-1, T)
    lyap = raw.get("lyapunov")
    note = READOUT_OF.get(entry.arch)
    def median(key):  # over seeds × inputs
        return np.median(_sequences(np.asarray(raw[key])), axis=0)

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
        num_seeds=int(np.shape(raw["spectral_norm"])[0]), num_inputs=config.num_inputs,
        lyapunov_exponents=None if lyap is None else seeds.median_spread(lyap)["median"],
        lyapunov_top=m.lyapunov_top,
        lyapunov_note=None if lyap is None or note is None else f"the exponents are those of {note}",
        lyapunov_not_applicable=LYAPUNOV_NOT_APPLICABLE if lyap is None else None,
        seed_experiment=m.seed_experiment,
        seed_experiment_not_applicable=attribution.NOT_APPLICABLE if m.seed_experiment is None else None,
        conditions=measured, receptive_field=getattr(entry.model, "receptive_field", None), modules=m.modules,
        profile_norm="frobenius" if entry.method == "sketch" else "spectral",
        lyapunov_zero_directions=m.lyapunov_zero_directions,
        burn_in=w.burn_in, timescale=m.timescale, cut_off_distance=m.cut_off_distance,
        regime_by_ratio=m.regime_by_ratio, lyapunov_singular=m.lyapunov_singular, prediction=m.prediction,
        regime_rate=m.regime_rate,
        workdir=entry.workdir, trained=trained,
    )



def trained_record(entry, config) -> dict:
    """A trained entry's ``trained`` record: its run and `learned.measure` on the task's own sequences
    (input-Jacobian profile, marker share, gate statistics, state-Jacobian norms), replica means."""
    from seqgrad.jobs import learned

    run = entry.trained
    sequences, _, _ = run.trainer.task.batch(jax.random.key(config.seed), config.trained.num_sequences)
    spec = ml_collections.ConfigDict({"gate_threshold": config.trained.gate_threshold,
                                      "jacobian_sequences": config.trained.jacobian_sequences,
                                      "distances": [d for d in config.fixed_distances if d < sequences.shape[1]]})
    rows = [learned.measure(run, run.replica(r), sequences, spec) for r in range(len(run.trainer.replicas))]
    return {"workdir": run.workdir, "step": run.step, "eval": run.eval, "replicas": len(rows),
            "task": run.config.task.name, "task_length": int(sequences.shape[1]), "on_task": learned.mean_rows(rows)}


def entry_summary(entry, config, raw, plan) -> EntryRecord:
    """Every condition of one entry summarised from its measurement ``raw`` (`measurements.Raw`) with the
    run's `config.Plan` (windows, thresholds, grid); the top-level fields of the record are the default
    condition's."""
    arrays, dtype, w = raw.arrays, raw.dtype, plan.windows
    recorded = int(config.lyapunov.T) - w.lyapunov_burn_in
    by_condition, default_raw = {}, None
    for c, scale in enumerate(config.conditions.input_scale):
        # Lyapunov exponents and the page's experiment depend on the input scale, not on T.
        extras = {"lyapunov": arrays["lyapunov"][c] if "lyapunov" in arrays else None,
                  **{k: arrays[k][c] for k in PER_SCALE if k in arrays}}
        for T in config.conditions.T:
            cond, pre = Condition(float(scale), int(T)), f"T{T}/"
            at = {k[len(pre):]: v[c] for k, v in arrays.items() if k.startswith(pre)}
            at64 = raw.float64[T][c] if T in raw.float64 else None
            experiment = snippet_experiment(at, config, w.snippet[int(T)]) if "gradient_vs_length" in at else None
            by_condition[cond] = condition_measures(
                cond, at["spectral_norm"], at64, config, dtype, thresholds=plan.thresholds,
                module_norm=at.get("module_norm"), singular_values=at["singular_values"], inf_norm=at.get("inf_norm"),
                seed_experiment=experiment, lyapunov_steps=recorded, **extras)
            if cond == plan.default:
                default_raw = ({**at, **{k: v[c] for k, v in arrays.items() if "/" not in k}}, at64)
    if entry.trained is None:  # theory's rate per input scale (`predictions.predict`), beside the measured one
        predicted = {float(s): predictions.predict(entry.arch, entry.options, entry.site, float(s), entry.init)
                     for s in config.conditions.input_scale}
        by_condition = {c: dataclasses.replace(m, prediction=predicted[c.input_scale]) for c, m in by_condition.items()}
    measured = [by_condition[c] for c in plan.grid]
    return entry_record(entry, config, dtype, by_condition[plan.default], default_raw, measured, w)
