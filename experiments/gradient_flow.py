"""Gradient flow through time for every architecture: ``scripts/analyze.py --config=experiments/gradient_flow.py``.

``get_config(arg)``: ``arg`` is an optional comma-separated subset of entry names
(``--config=experiments/gradient_flow.py:rnn,lstm``); every value is overridable
as ``--config.key=value`` (``--config.entries.lstm.options.forget_bias=2.0``).

Each entry is an architecture name from the registry, its options and the
perturbation site (``"cell"``: the LSTM cell state). Add a variant by adding an
entry; the claims read the entries named in ``claims``.
"""

from __future__ import annotations

import ml_collections


def _entry(arch: str, site: str = "hidden", **options) -> dict:
    return {"arch": arch, "site": site, "options": options}


ENTRIES = {
    "rnn": _entry("rnn", activation="tanh", recurrent_init="orthogonal"),
    "rnn_linear_orthogonal": _entry("rnn", activation="linear", recurrent_init="orthogonal"),
    "rnn_relu_identity": _entry("rnn", activation="relu", recurrent_init="identity"),
    "residual_rnn": _entry("residual_rnn"),
    "lstm": _entry("lstm", forget_bias=1.0),
    "lstm_cell_fb0": _entry("lstm", site="cell", forget_bias=0.0),
    "lstm_cell_fb1": _entry("lstm", site="cell", forget_bias=1.0),
    "lstm_cell_fb5": _entry("lstm", site="cell", forget_bias=5.0),
    "gru": _entry("gru"),
    "skip_rnn_k2": _entry("skip_rnn", skip=2),
    "skip_rnn_k8": _entry("skip_rnn", skip=8),
    "multiscale_rnn": _entry("multiscale_rnn", num_modules=4, period_base=2),
    "orthogonal_rnn": _entry("orthogonal_rnn"),
    "lru": _entry("lru"),
    "mingru": _entry("mingru"),
    "attention_rnn": _entry("attention_rnn"),
    "transformer": _entry("transformer", num_layers=2, num_heads=4),
    "dilated_conv": _entry("dilated_conv", kernel_size=2, num_blocks=7),
    "dilated_conv_L4": _entry("dilated_conv", kernel_size=2, num_blocks=4),
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.num_seeds = 5
    config.T = 128  # sequence length of the Jacobian analysis and the largest seed-experiment length
    config.input_size = 8
    config.hidden_size = 32
    config.float64 = False  # measure everything in float64
    config.float64_recheck = True  # recompute in float64 where a float32 norm read exactly 0
    config.underflow_margin_decades = 12.0  # a zero after a norm < tiny·10^margin is underflow
    config.decay_min_distance = 1  # first distance of the decay fit (d = 0 is I for state probes)
    config.horizon_threshold = 1e-3  # memory horizon: norm < threshold·‖J(1)‖

    config.lyapunov = ml_collections.ConfigDict()
    config.lyapunov.T = 2000
    config.lyapunov.num_exponents = 4
    config.lyapunov.burn_in = 100

    config.seed_experiment = ml_collections.ConfigDict()
    config.seed_experiment.lengths = (10, 50, 100, 128)  # the seed's T = 10, 50, 100, 200, capped at T
    config.seed_experiment.decomposition_batch = 0  # gradients vmapped per batch; 0: one at a time (fastest compile)
    config.seed_experiment.last_steps = 10  # "the last few steps": share of ‖G(d)‖ from d < last_steps

    config.timing = ml_collections.ConfigDict()
    config.timing.repeats = 5

    config.plots = ml_collections.ConfigDict()
    config.plots.dpi = 110
    config.plots.columns = 5

    config.claims = ml_collections.ConfigDict()
    config.claims.flat_rate = 0.005  # |decay rate| below this (nats/step) counts as no exponential decay
    config.claims.dominance = 0.9  # share of the last steps above this: the norm ignores long distances
    config.claims.vanilla = "rnn"
    config.claims.orthogonal_tanh = "rnn"
    config.claims.orthogonal_linear = "rnn_linear_orthogonal"
    config.claims.forget_gate = ("lstm_cell_fb0", "lstm_cell_fb1", "lstm_cell_fb5")  # increasing forget bias
    config.claims.additive = ("lstm", "gru", "residual_rnn")
    config.claims.skip = ("skip_rnn_k2", "skip_rnn_k8")
    config.claims.multiscale = ("multiscale_rnn",)
    config.claims.dilated = ("dilated_conv", "dilated_conv_L4")
    config.claims.attention = ("attention_rnn", "transformer")
    config.claims.snippet = ("rnn", "lstm")

    names = list(ENTRIES) if not arg else [n.strip() for n in arg.split(",") if n.strip()]
    unknown = [n for n in names if n not in ENTRIES]
    if unknown:
        raise ValueError(f"unknown entries {unknown} in config arg {arg!r}; valid entries: {list(ENTRIES)}")
    config.entries = ml_collections.ConfigDict({n: ENTRIES[n] for n in names})
    config.lock()
    return config
