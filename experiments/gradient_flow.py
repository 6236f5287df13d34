"""Gradient flow through time for every architecture: ``scripts/analyze.py --config=experiments/gradient_flow.py``.

``get_config(arg)``: ``arg`` is an optional comma-separated subset of entry names
(``--config=experiments/gradient_flow.py:rnn,lstm``); every value is overridable
as ``--config.key=value`` (``--config.entries.lstm.options.forget_bias=2.0``,
``--config.conditions.input_scale=(1.0,)``); ``--config.extra_entries="nnx:flax.nnx:LSTMCell,
mypkg.cells:Leaky[leak=0.3]"`` adds an entry per named model (`seqgrad.jobs.gradient_flow.extra_entries`).

Each entry is an architecture name from the registry (``name``; ``arch`` is the
older key), its options, the perturbation site (``"cell"``: the LSTM cell state,
``"state"``: its full ``(h, c)``), an optional parameter ``init`` (``"chrono"``:
Tallec & Ollivier 2018) and an optional ``workdir`` of a trained run (empty:
the initialisation). ``VARIANTS`` are the hand-picked variants the claims read;
every other registered architecture gets an entry of its own name with its
default options (``ARCH_OPTIONS`` overrides them), so a newly registered
architecture is analysed without editing this file.

Every claim is evaluated in every condition of the grid ``conditions.input_scale``
× ``conditions.T`` (inputs ``x ~ s·N(0, 1)``); the default condition
(``default_input_scale``, ``T``) gives the top-level numbers.
"""

from __future__ import annotations

import dataclasses

import ml_collections

from seqgrad import models


def _entry(arch: str, site: str = "hidden", init: str = "", **options) -> dict:
    return {"arch": arch, "site": site, "init": init, "workdir": "", "options": options}


def _has_option(arch: str, option: str) -> bool:
    module = models.info(arch).module
    return option in {f.name for f in dataclasses.fields(module)}


VARIANTS = {
    "rnn": _entry("rnn", activation="tanh", recurrent_init="orthogonal"),
    "rnn_linear_orthogonal": _entry("rnn", activation="linear", recurrent_init="orthogonal"),
    "rnn_relu_identity": _entry("rnn", activation="relu", recurrent_init="identity"),
    "residual_rnn": _entry("residual_rnn"),
    "residual_rnn_small": _entry("residual_rnn", residual_scale=0.1),
    "lstm": _entry("lstm", forget_bias=1.0),
    "lstm_state": _entry("lstm", site="state", forget_bias=1.0),
    "lstm_cell_fb0": _entry("lstm", site="cell", forget_bias=0.0),
    "lstm_cell_fb1": _entry("lstm", site="cell", forget_bias=1.0),
    "lstm_cell_fb5": _entry("lstm", site="cell", forget_bias=5.0),
    "lstm_chrono": _entry("lstm", site="cell", init="chrono"),
    "gru": _entry("gru"),
    "gru_update_bias_neg": _entry("gru", update_bias=-2.0),
    "gru_update_bias_neg5": _entry("gru", update_bias=-5.0),  # carry 1 − σ(−5) = 0.993: the gate held open
    "skip_rnn_k2": _entry("skip_rnn", skip=2),
    "skip_rnn_k8": _entry("skip_rnn", skip=8),
    "multiscale_rnn": _entry("multiscale_rnn", num_modules=4, period_base=2),
    "orthogonal_rnn": _entry("orthogonal_rnn"),
    "lru": _entry("lru"),
    "mingru": _entry("mingru"),
    "attention_rnn": _entry("attention_rnn"),
    "transformer": _entry("transformer", num_layers=2, num_heads=4),
    # Depth ⌈log₂ T⌉ per T of the default grid: R = 1 + 2(2^L − 1) is 255 ≥ 128 for L = 7 and 1023 ≥ 512 for L = 9
    # (the dilated claim reads, per condition, the shallowest stack whose R reaches T).
    "dilated_conv_L7": _entry("dilated_conv", kernel_size=2, num_blocks=7),
    "dilated_conv": _entry("dilated_conv", kernel_size=2, num_blocks=9),
    "dilated_conv_L4": _entry("dilated_conv", kernel_size=2, num_blocks=4),
    "rg_lru": _entry("rg_lru"),
    "rg_lru_unnormalized": _entry("rg_lru", normalize=False),  # h_t = a_t ⊙ h_(t−1) + i_t ⊙ x_t: no √(1 − a²)
    "rg_lru_constant_gate": _entry("rg_lru", constant_gate=True),  # r_t = 1: a = σ(Λ)^c, the closed forms exact
}
if _has_option("skip_rnn", "skip_mode"):  # h_t = tanh(h_(t-1) W + x_t U + b + h_(t-k)): a bounded state
    VARIANTS["skip_rnn_k8_inside"] = _entry("skip_rnn", skip=8, skip_mode="inside")

ARCH_OPTIONS: dict[str, dict] = {}  # per-architecture options of the automatic entries


def entries() -> dict[str, dict]:
    """``VARIANTS`` plus one default entry per registered architecture that no variant uses."""
    out = dict(VARIANTS)
    used = {spec["arch"] for spec in VARIANTS.values()}
    for arch in models.available():
        if arch not in used and arch not in out:
            out[arch] = _entry(arch, **ARCH_OPTIONS.get(arch, {}))
    return out


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.num_seeds = 5  # initialisations
    config.num_inputs = 3  # input sequences per initialisation
    config.T = 128  # the default condition's length (one of conditions.T) and the page's experiment's largest length
    config.default_input_scale = 1.0  # the default condition's input scale (one of conditions.input_scale)
    config.conditions = ml_collections.ConfigDict()
    config.conditions.input_scale = (0.1, 1.0, 3.0)
    config.conditions.T = (128, 512)
    # Steps run before every profile window: the windows (and the Lyapunov exponents) measure the driven
    # dynamics, not the zero-state start-up (0: profiles from the zero state, to study the start-up).
    # 256 steps: the start-up transient of the slowest entries has died out by then (README, "Burn-in").
    config.burn_in = 256
    config.fixed_distances = (1, 8, 32, 127)  # ‖J(d)‖ compared across T at these d (each < min T)
    config.input_size = 8
    config.hidden_size = 32
    # State Jacobians: "exact" (the [T, n, n] stack by jacrev), "sketch" (reverse passes with probes, no stack:
    # the profile norm is ‖J(d)‖_F) or "auto" (exact while T·n² ≤ 2^26, sketch beyond); recorded per entry.
    config.method = "exact"
    config.sketch = ml_collections.ConfigDict()
    config.sketch.num_probes = 16  # k random orthonormal probes of ‖J(d)‖_F (exact when k >= n)
    config.sketch.num_singular = 0  # r > 0: exact top-r singular values at ~64 log-spaced d (n reverse passes)
    config.sketch.remat_block = 0  # B > 0: rematerialise the forward pass in blocks of B steps (memory O(T/B + B))
    config.float64 = False  # measure everything in float64
    config.float64_recheck = True  # recompute in float64 where a float32 norm read exactly 0
    config.underflow_margin_decades = 12.0  # a zero after a norm < tiny·10^margin is underflow
    config.decay_min_distance = 1  # first distance of the decay fit (d = 0 is I for state probes)
    config.horizon_threshold = 1e-3  # memory horizon: last d with norm ≥ threshold·‖J(1)‖
    config.compilation_cache_dir = ""  # JAX persistent compilation cache; "": user cache dir; "none": off
    # Lyapunov exponents and the one-pass seed experiment (short runs, long compiles) at XLA's backend optimisation
    # level 0 on CPU: half their compile time (`seqgrad.jobs.gradient_flow.programs`); False: every program fully optimised.
    config.quick_compile = True
    config.sequence_batch = 0  # profile sequences per step of the stacks' map; 0: 9 for sequential recurrences, else 1
    config.workers = 0  # entries compiled concurrently (threads; they run one at a time); 0: one per CPU core, at most 4

    # Entries of trained runs (``--config.entries.NAME.workdir=DIR``): what is measured on the task's own sequences.
    config.trained = ml_collections.ConfigDict()
    config.trained.num_sequences = 32  # task sequences for the input-Jacobian profile and the gate statistics
    config.trained.jacobian_sequences = 2  # of those, sequences whose state Jacobians are taken
    config.trained.gate_threshold = 0.95  # a unit keeps memory when its mean carry factor (f, 1 − z) exceeds this

    config.regime = ml_collections.ConfigDict()
    # The regime of a profile (`seqgrad.gradflow.decay.classify`), from per-step numbers so that it does not move
    # with T: vanishing / exploding when the envelope rate r of ‖J(d)‖ has |r| > 1/timescale (the norm changes by
    # more than a factor e within `timescale` steps), preserved otherwise; power-law decay and cut off (exact
    # zeros from d₀ on) by shape.
    config.regime.timescale = 200.0  # steps: |rate| ≤ 1/200 = 0.005 nats/step is preserved
    config.regime.block = 16  # envelope: maxima over blocks of this many distances (periodic profiles up to k = 16)
    config.regime.growth = 10.0  # regime_by_ratio (earlier rule, kept for comparison): exploding at growth·‖J(1)‖
    config.regime.preserved = 0.1  # regime_by_ratio: ‖J(T-1)‖ ≥ preserved·‖J(1)‖; dilated claim: factor per level
    config.regime.rebound_decades = 1.0  # periodic: a dip this many decades below earlier and later norms

    config.shape = ml_collections.ConfigDict()
    config.shape.min_r2 = 0.9  # an exponential fit explains at least this share of ln‖J(d)‖'s variance
    config.shape.plateau_decades = 1.0  # drop then plateau: the first half falls at least this much

    config.lyapunov = ml_collections.ConfigDict()
    config.lyapunov.T = 2000
    config.lyapunov.num_exponents = 4
    config.lyapunov.burn_in = -1  # steps before the exponents are recorded; -1: config.burn_in

    config.seed_experiment = ml_collections.ConfigDict()
    # The snippet's T = 10, 50, 100, 200: a condition of length T runs those up to T, and T itself.
    config.seed_experiment.lengths = (10, 50, 100, 200)
    # Models without a one-pass decomposition (`attribution.STATE_SITES`) take it by its definition, O(T²): up to
    # this T only (the snippet's claims read rnn and lstm, which have one).
    config.seed_experiment.max_length_by_definition = 128
    config.seed_experiment.decomposition_batch = 0  # gradients vmapped per batch; 0: one at a time (fastest compile)
    config.seed_experiment.last_steps = 10  # "the last few steps": share of ‖G(d)‖ from d < last_steps

    config.timing = ml_collections.ConfigDict()
    # Forward+backward seconds per step of each entry (``time_per_step_s``), median of this many calls; 0 (default):
    # not timed. Speed is measured by the benchmarks (`benchmarks/`), which repeat enough for stable numbers.
    config.timing.repeats = 0

    config.plots = ml_collections.ConfigDict()
    config.plots.dpi = 110
    config.plots.columns = 6

    config.claims = ml_collections.ConfigDict()
    config.claims.dominance = 0.9  # share of the last steps above this: the norm ignores long distances
    config.claims.prediction_tolerance = 0.5  # relative slack of a predicted rate (skip: rate_rnn/k; clockwork)
    config.claims.dilution_tolerance = 1.5  # ‖J(d)‖ ratio across T within this factor of the T ratio: 1/T dilution
    config.claims.orthogonal_sigma_tolerance = 1e-3  # max |σ_i − 1| of an orthogonal linear RNN's Jacobians
    config.claims.bound_tolerance = 1e-6  # coRNN: ln‖J(d)‖_∞ − d·ln ρ above this refutes the proven bound
    config.claims.variance_ratio_low = 0.8  # RG-LRU: Var(h)/[(1 − ∏ a²)·Var(i ⊙ u)] within [low, high]: scale kept
    config.claims.variance_ratio_high = 1.25
    config.claims.expansion_tolerance = 1e-6  # RG-LRU: σ_max(J(d)) ≤ 1 + this: the state Jacobian never expands
    config.claims.vanilla = "rnn"
    config.claims.vanilla_counterexample = "rnn_relu_identity"  # outside the claim's scope, reported beside it
    config.claims.orthogonal_tanh = "rnn"
    config.claims.orthogonal_linear = "rnn_linear_orthogonal"
    config.claims.forget_gate = ("lstm_cell_fb0", "lstm_cell_fb1", "lstm_cell_fb5")  # increasing forget bias
    # Under the claim's condition (gates open, a small additive update), and at default initialisation apart.
    config.claims.additive = ("lstm_cell_fb5", "lstm_chrono", "gru_update_bias_neg5", "residual_rnn_small")
    config.claims.additive_default = ("lstm", "gru", "residual_rnn")
    config.claims.skip = tuple(n for n in ("skip_rnn_k2", "skip_rnn_k8", "skip_rnn_k8_inside") if n in VARIANTS)
    config.claims.multiscale = ("multiscale_rnn",)
    # Depth ⌈log₂ T⌉ per T (the shallowest of these that reaches T is read); dilated_conv_L4 (R = 31): a contrast.
    config.claims.dilated = ("dilated_conv_L7", "dilated_conv")
    config.claims.attention = ("attention_rnn", "transformer")
    config.claims.snippet = ("rnn", "lstm")
    config.claims.cornn = ("cornn",)
    config.claims.rg_lru = ("rg_lru", "rg_lru_unnormalized")  # normalised, unnormalised (the default-gate check)
    config.claims.rg_lru_constant_gate = ("rg_lru_constant_gate",)  # where the closed forms hold: tested

    available = entries()
    names = list(available) if not arg else [n.strip() for n in arg.split(",") if n.strip()]
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(f"unknown entries {unknown} in config arg {arg!r}; valid entries: {list(available)}")
    config.entries = ml_collections.ConfigDict({n: available[n] for n in names})
    # More entries by name, each named after its item (`seqgrad.jobs.gradient_flow.extra_entries`):
    # "nnx:flax.nnx:LSTMCell,mypkg.cells:Leaky[leak=0.3]".
    config.extra_entries = ""
    config.lock()
    return config
