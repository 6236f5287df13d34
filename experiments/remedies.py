"""Which fix works: architectures × remedies × delay T on the adding problem, measured from init to learning.

    python scripts/remedies.py --config=experiments/remedies.py:cpu --workdir=runs/remedies_cpu
    python scripts/remedies.py --config=experiments/remedies.py --workdir=runs/remedies
    python scripts/remedies.py --config=experiments/remedies.py:quick --workdir=/tmp/quick

`get_config(arg)` is the shared base of every point; `get_sweep(arg)` lists the points:
``model.name`` × ``remedy`` × ``task.length`` (seeds vmapped inside each run). Each point
trains (`seqgrad.train.remedies.measured_run`) and records the top Lyapunov exponent and
the memory horizon at initialisation and after training, the held-out loss and the
success (held-out loss <= 10 % of the chance level 1/6); `seqgrad.report.remedies` writes
``remedies.md`` / ``remedies.png`` (success vs T per remedy). Resumable like any sweep.

Remedies (``remedy`` is a label; the overrides are what it does):

  none            the architecture's defaults, except the tanh RNN's recurrent matrix
                  ``W ~ N(0, 1/H)`` (g = 1; orthogonal is a remedy here), and no clipping
  critical        rnn: ``recurrent_init="critical"``: g* = critical_gain(s) for the task's
                  input scale s, χ₁ = 1 (`seqgrad.models.meanfield`)
  orthogonal      rnn: ``recurrent_init="orthogonal"`` (Saxe et al. 2014)
  chrono          lstm, gru: ``chrono = T`` (Tallec & Ollivier 2018)
  flossing        ``train.flossing.weight`` > 0: Σλ_i² of the top k exponents added every
                  ``every`` steps (Engelken 2023)
  flossing_before ``train.flossing.pretrain_steps`` flossing-only steps before training
  clipping        ``optim.clip="global_norm"``, threshold 1 (Pascanu et al. 2013)

Every run skips non-finite updates (``optim.skip_nonfinite``), so an exploding plain
model is recorded as failing rather than crashing the sweep.

Variants (``arg``):
  full (default)  rnn, lstm, gru × all remedies × T ∈ {50, 100, 200, 400}; H = 64, 3 seeds,
                  3000 steps (an accelerator).
  cpu             the same remedies at T ∈ {20, 60}; H = 16, 2 seeds, 400 steps (2 CPU cores).
  quick           rnn × none / critical / flossing / flossing_before, lstm × chrono, gru ×
                  chrono at T = 5, 4 steps (tests).
"""

import math

from seqgrad.train import config as cfg

ARCHITECTURES = ("rnn", "lstm", "gru")
# Which remedies apply to which architecture.
APPLIES = {
    "none": ARCHITECTURES,
    "critical": ("rnn",),
    "orthogonal": ("rnn",),
    "chrono": ("lstm", "gru"),
    "flossing": ARCHITECTURES,
    "flossing_before": ARCHITECTURES,
    "clipping": ARCHITECTURES,
}

VARIANTS = {
    "full": {
        "models": ARCHITECTURES, "remedies": tuple(APPLIES), "lengths": (50, 100, 200, 400),
        "steps": 3000, "hidden_size": 64, "num_seeds": 3,
        "flossing": {"weight": 1.0, "every": 5, "num_exponents": 16, "pretrain_steps": 500},
    },
    "cpu": {
        "models": ARCHITECTURES, "remedies": tuple(APPLIES), "lengths": (20, 60),
        "steps": 400, "hidden_size": 16, "num_seeds": 2,
        "flossing": {"weight": 1.0, "every": 10, "num_exponents": 4, "pretrain_steps": 100},
    },
    "quick": {
        "models": ARCHITECTURES, "remedies": ("none", "critical", "chrono", "flossing", "flossing_before"),
        "lengths": (5,), "steps": 4, "hidden_size": 4, "num_seeds": 2,
        "flossing": {"weight": 1.0, "every": 2, "num_exponents": 2, "pretrain_steps": 3},
        "only": {"lstm": ("chrono",), "gru": ("chrono",)},
    },
}


def _variant(arg):
    name = arg or "full"
    if name not in VARIANTS:
        raise ValueError(f"remedies variant {name!r} is unknown; valid choices: {sorted(VARIANTS)}")
    return VARIANTS[name]


def adding_input_scale(length: int) -> float:
    """The drive s of the adding problem: the input kernel is N(0, 1/D) with D = 2 channels
    (``u ~ U(0, 1)``, E[u²] = 1/3, and 2 markers in T steps), so the drive per unit has
    variance ``s² = (1/3 + 2/T)/2`` (`seqgrad.models.meanfield`'s convention)."""
    return round(math.sqrt((1 / 3 + 2 / length) / 2), 4)


def remedy_overrides(remedy: str, length: int, flossing: dict) -> dict:
    """The dotted config overrides of ``remedy`` at delay ``length``."""
    return {
        "none": {},
        "critical": {"model.options.recurrent_init": "critical",
                     "model.options.critical_input_scale": adding_input_scale(length)},
        "orthogonal": {"model.options.recurrent_init": "orthogonal"},
        "chrono": {"model.options.chrono": length},
        "flossing": {"train.flossing.weight": flossing["weight"], "train.flossing.every": flossing["every"],
                     "train.flossing.num_exponents": flossing["num_exponents"]},
        "flossing_before": {"train.flossing.pretrain_steps": flossing["pretrain_steps"],
                            "train.flossing.num_exponents": flossing["num_exponents"]},
        "clipping": {"optim.clip": "global_norm", "optim.clip_value": 1.0},
    }[remedy]


def get_config(arg=None):
    v = _variant(arg)
    c = cfg.base_config()
    cfg.set_model(c, v["models"][0], recurrent_init="normal", recurrent_scale=1.0)
    c.model.hidden_size = v["hidden_size"]
    cfg.set_task(c, "adding", v["lengths"][0])
    c.remedy = "none"  # the label of the point's remedy (reports group by it)
    c.train.steps = v["steps"]
    c.train.batch_size = 32
    c.train.num_seeds = v["num_seeds"]
    cfg.use_adam_recipe(c, warmup_steps=min(100, v["steps"] // 10))
    c.optim.clip = "none"  # clipping is one of the remedies
    c.optim.skip_nonfinite = True
    c.train.flossing.pretrain_learning_rate = 3e-3
    quick = arg == "quick"
    c.train.steps_per_dispatch = 2 if quick else 50
    c.train.progress = not quick
    c.checkpoint.every = 2 if quick else 500
    c.eval.batch_size = 16 if quick else 500
    c.eval.num_batches = 1 if quick else 4
    c.lock()
    return c


def get_sweep(arg=None):
    v = _variant(arg)
    only = v.get("only", {})
    return [
        {"model.name": model, "remedy": remedy, "task.length": length,
         **remedy_overrides(remedy, length, v["flossing"])}
        for model in v["models"]
        for remedy in v["remedies"]
        if model in APPLIES[remedy] and remedy in only.get(model, v["remedies"])
        for length in v["lengths"]
    ]
