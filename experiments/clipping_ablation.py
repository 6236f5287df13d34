"""Clipping ablation on the adding problem: architectures × clipping rules × T.

    python scripts/sweep.py --config=experiments/clipping_ablation.py --workdir=runs/clipping
    python scripts/sweep.py --config=experiments/clipping_ablation.py:cpu --workdir=runs/clipping_cpu
    python scripts/sweep.py --config=experiments/clipping_ablation.py:quick --workdir=/tmp/quick

`get_config(arg)` is the shared base of every point; `get_sweep(arg)` lists the
points. Each point sets ``model.name``, ``task.length``, ``optim.clip`` and, for a
clipping rule, ``optim.clip_value``; the thresholds of one rule differ only in a
vmappable value, so they train together in one program (with the seeds).

Variants (``arg``):
  full (default)  rnn, lstm, gru × none / value / global_norm / adaptive / block_rms
                  (two thresholds each but block_rms) × T ∈ {50, 100, 200};
                  3 seeds, 3000 steps: 72 points in 45 runs, for an accelerator.
  cpu             rnn, lstm, gru × none / value 1 / global_norm 1 / adaptive 0.01 at
                  T = 50; 2 seeds, 1000 steps, H = 32: 12 runs, ~20 min on a shared 2-core CPU.
  quick           lstm × none / global_norm {0.5, 1} at T = 5, a few steps (tests).

The threshold ``c`` means: ``value`` clips each entry to [−c, c]; ``global_norm``
rescales to ‖g‖ ≤ c (Pascanu et al. 2013); ``adaptive`` is AGC's unit-wise ratio
‖g‖/‖w‖ ≤ c (Brock et al. 2021); ``block_rms`` caps each parameter's RMS at c.
Models keep their default options: ``model.options`` holds the first architecture's
defaults, and a point on another architecture drops those it does not take.
"""

from seqgrad.train import config as cfg

VARIANTS = {
    "full": {
        "models": ("rnn", "lstm", "gru"),
        "clips": {
            "none": (1.0,),
            "value": (0.1, 1.0),
            "global_norm": (1.0, 10.0),
            "adaptive": (0.01, 0.1),
            "block_rms": (1.0,),
        },
        "lengths": (50, 100, 200),
        "steps": 3000,
        "hidden_size": 64,
        "batch_size": 32,
        "num_seeds": 3,
    },
    "cpu": {
        "models": ("rnn", "lstm", "gru"),
        "clips": {"none": (1.0,), "value": (1.0,), "global_norm": (1.0,), "adaptive": (0.01,)},
        "lengths": (50,),
        "steps": 1000,
        "hidden_size": 32,
        "batch_size": 32,
        "num_seeds": 2,
    },
    "quick": {
        "models": ("lstm",),
        "clips": {"none": (1.0,), "global_norm": (0.5, 1.0)},
        "lengths": (5,),
        "steps": 4,
        "hidden_size": 4,
        "batch_size": 4,
        "num_seeds": 2,
    },
}


def _variant(arg):
    name = arg or "full"
    if name not in VARIANTS:
        raise ValueError(f"clipping_ablation variant {name!r} is unknown; valid choices: {sorted(VARIANTS)}")
    return VARIANTS[name]


def get_config(arg=None):
    v = _variant(arg)
    c = cfg.base_config()
    # The first architecture's options; a point that switches model.name drops the ones the
    # other architecture does not take (seqgrad.modelspec.for_model).
    cfg.set_model(c, v["models"][0])
    c.model.hidden_size = v["hidden_size"]
    cfg.set_task(c, "adding", v["lengths"][0])
    c.train.steps = v["steps"]
    c.train.batch_size = v["batch_size"]
    c.train.num_seeds = v["num_seeds"]
    cfg.use_adam_recipe(c, warmup_steps=min(100, v["steps"] // 10))
    if arg == "quick":
        c.train.steps_per_dispatch = 2
        c.train.progress = False
        c.checkpoint.every = 2
        c.eval.batch_size = 16
        c.eval.num_batches = 1
    else:
        c.train.steps_per_dispatch = 50
        c.checkpoint.every = 500
        c.eval.batch_size = 500
        c.eval.num_batches = 4
    c.lock()
    return c


def get_sweep(arg=None):
    v = _variant(arg)
    return [
        {"model.name": model, "task.length": length, "optim.clip": clip, "optim.clip_value": value}
        for model in v["models"]
        for length in v["lengths"]
        for clip, values in v["clips"].items()
        for value in values
    ]
