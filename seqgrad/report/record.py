"""The typed analysis record: what the main job measured, as dataclasses, written to JSON in one place.

`seqgrad.report` (claims, tables, plots) reads these attributes, never string
keys, so a renamed field fails loudly where it is read. `to_json` is the only
writer: dataclasses become objects with the field names as keys, numpy arrays
become lists and nan/±inf become JSON null.

Layout of ``gradient_flow.json`` (the `Report` fields): ``architectures`` maps an
entry name to its `EntryRecord`, whose top-level measures are those of the
default condition and whose ``conditions`` list holds one `Measures` per grid
condition; ``claims`` holds one `ClaimRow` per claim with its ``by_condition``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from seqgrad import jsonio


@dataclasses.dataclass(frozen=True)
class Condition:
    """One point of the condition grid: inputs ``x ~ input_scale · N(0, 1)^{T×D}``."""

    input_scale: float
    T: int

    def label(self) -> str:
        return f"s={self.input_scale:g}, T={self.T}"


@dataclasses.dataclass
class Stats:
    """A scalar over initialisations × input sequences ``[S, I]``.

    ``median``, ``q25``, ``q75`` over all S·I values; ``spread_over_inits``: the
    interquartile range over seeds of each seed's median over inputs;
    ``spread_over_inputs``: the median over seeds of the interquartile range over
    one seed's inputs.
    """

    median: float
    q25: float
    q75: float
    spread_over_inits: float = float("nan")
    spread_over_inputs: float = float("nan")


@dataclasses.dataclass
class Measures:
    """One entry under one condition (medians over seeds × inputs, by distance d = 0..T-1)."""

    condition: Condition
    jacobian_norm: np.ndarray  # [T] median ‖∂h_(T-1)/∂h_(T-1-d)‖₂ (float64 where float32 underflowed)
    jacobian_norm_q25: np.ndarray
    jacobian_norm_q75: np.ndarray
    status: np.ndarray  # [T] measured / underflow / exact_zero
    decay_rate: Stats
    decay_fit_r2: Stats
    memory_horizon: Stats  # last d with ‖J(d)‖ ≥ threshold·‖J(1)‖; censored at T
    first_drop_horizon: Stats  # first d with ‖J(d)‖ < threshold·‖J(1)‖; censored at T
    regime: str  # of the median profile: vanishing / preserved / exploding / non-monotone
    shape: dict[str, Any]  # `decay.profile_shape` of the median profile
    norm_at: dict[str, float]  # ‖J(d)‖ at the fixed distances of config.fixed_distances
    first_exact_zero_distance: int | None
    first_underflow_distance: int | None
    lyapunov_top: Stats | None = None
    seed_experiment: dict[str, Any] | None = None
    modules: list[dict[str, Any]] | None = None  # clockwork: per-module diagonal blocks
    singular_value_deviation: float = float("nan")  # max over d, i of |σ_i(median) − 1|
    spectral_norm_max: float = float("nan")  # max over seeds, inputs, d of ‖J(d)‖₂ (d = 0 included)
    bound_rho: Stats | None = None  # ρ of a proven ‖J(d)‖_∞ ≤ ρ^d over seeds (coRNN); None: no bound
    bound_excess: float | None = None  # max_(s,i,d≥1) ln‖J(d)‖_∞ − d·ln ρ_s; ≤ 0: the bound holds
    lyapunov_zero_directions: int | None = None  # exactly-zero tangent directions, total over seeds
    variance_ratio: Stats | None = None  # Var(h_t)/[(1 − ∏a²)·Var(i ⊙ u)] over seeds (RG-LRU; 1 = closed form)
    # T-independent summaries (`seqgrad.gradflow.decay.classify` of the median profile): the regime above is
    # read from the envelope rate against config.regime.timescale; the rule of earlier versions (‖J(T−1)‖ vs
    # 0.1·‖J(1)‖, which moves with T) is kept as regime_by_ratio.
    regime_by_ratio: str | None = None
    regime_rate: Stats | None = None  # envelope rate per sequence (nats/step), the spread of the regime's rate
    timescale: float = float("nan")  # 1/|envelope rate| of the median profile (steps)
    cut_off_distance: int | None = None  # the profile is exactly 0 from this d on (None: never)
    lyapunov_singular: dict[str, Any] | None = None  # exactly singular tangent product: counts (None: regular)
    lyapunov_top_between_restarts: Stats | None = None  # top exponent over the frames' last lives (see summarize)
    prediction: dict[str, Any] | None = None  # `seqgrad.gradflow.predictions.predict`: theory's rate, its source

    @property
    def T(self) -> int:
        return self.condition.T


@dataclasses.dataclass
class EntryRecord:
    """One configured entry: what it is, its default-condition measures flattened, every condition."""

    arch: str
    options: dict[str, Any]
    site: str
    path_length: str
    parallel: str
    paper: str
    claim: str
    probe_is_state: bool
    dtype: str
    method: str
    distance: list[int]
    jacobian_norm: np.ndarray
    jacobian_norm_q25: np.ndarray
    jacobian_norm_q75: np.ndarray
    jacobian_norm_raw: np.ndarray
    jacobian_norm_float64: np.ndarray | None
    status: np.ndarray
    first_underflow_distance: int | None
    first_exact_zero_distance: int | None
    frobenius_norm: np.ndarray
    condition_number: np.ndarray
    singular_values: np.ndarray
    decay_rate: Stats
    decay_factor: Stats
    decay_fit_r2: Stats
    memory_horizon: Stats
    first_drop_horizon: Stats
    memory_horizon_censored_at: int
    regime: str
    shape: dict[str, Any]
    time_per_step_s: float
    num_seeds: int
    num_inputs: int
    lyapunov_exponents: np.ndarray | None
    lyapunov_top: Stats | None
    lyapunov_note: str | None
    seed_experiment: dict[str, Any] | None
    conditions: list[Measures]
    receptive_field: int | None = None
    modules: list[dict[str, Any]] | None = None
    workdir: str | None = None  # a trained run this entry's parameters come from (None: initialisation)
    lyapunov_not_applicable: str | None = None
    seed_experiment_not_applicable: str | None = None
    # What the fwd+bwd timing differentiated: "hand-written VJP" or "autodiff" (models.handwritten_vjp.implementation).
    time_implementation: str = "autodiff"
    lyapunov_zero_directions: int | None = None  # exactly-zero tangent directions, total over seeds (default condition)
    # A trained run's entry: {"workdir", "step", "eval", "replicas", "on_task"} (None: an initialisation).
    trained: dict[str, Any] | None = None
    # The norm of the profile every measure reads: "spectral" (‖J(d)‖₂, method exact) or "frobenius" (sketch).
    profile_norm: str = "spectral"
    burn_in: int = 0  # steps before every profile window (0: the zero-state start-up)
    timescale: float = float("nan")  # default condition: 1/|envelope rate| (steps)
    cut_off_distance: int | None = None  # default condition: exactly 0 from this d on
    regime_by_ratio: str | None = None  # default condition: the ratio rule of earlier versions
    lyapunov_singular: dict[str, Any] | None = None  # default condition: exactly singular tangent product
    prediction: dict[str, Any] | None = None  # default condition: the rate theory predicts (None: no closed form)
    regime_rate: Stats | None = None  # default condition: envelope rate per sequence (the regime rate's spread)

    def at(self, condition: Condition) -> Measures:
        for m in self.conditions:
            if m.condition == condition:
                return m
        raise KeyError(f"condition {condition} not measured; measured: {[m.condition for m in self.conditions]}")


@dataclasses.dataclass
class ConditionVerdict:
    condition: Condition
    verdict: str
    measurement: str


@dataclasses.dataclass
class ClaimRow:
    """One claim: its overall verdict and the verdict in every condition."""

    claim: str
    test: str
    measurement: str  # at the default condition
    verdict: str  # confirmed / refuted only when every condition agrees, else depends
    refuted_if: str  # the measurement that would have refuted it, in one line
    by_condition: list[ConditionVerdict]
    depends_on: list[str]
    on_page: bool = True  # False: not a claim of the page (a later paper's), tested beside them


@dataclasses.dataclass
class Report:
    T: int
    hidden_size: int
    input_size: int
    num_seeds: int
    num_inputs: int
    default_condition: Condition
    grid: list[Condition]
    config: dict[str, Any]
    architectures: dict[str, EntryRecord]
    claims: list[ClaimRow] = dataclasses.field(default_factory=list)
    compile_cache_dir: str | None = None
    burn_in: int = 0  # steps run before every profile window (config.burn_in)
    lyapunov_burn_in: int = 0  # steps before the Lyapunov exponents are recorded
    wall_time_s: float = float("nan")
    files: dict[str, str] = dataclasses.field(default_factory=dict)


def to_json(value):
    """Dataclasses as objects keyed by field name, everything else by `seqgrad.jsonio.jsonable` (nan, ±inf: null)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return jsonio.jsonable(value)
