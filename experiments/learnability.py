"""Learnability horizons: every registered architecture × tasks × T × seeds.

    python scripts/sweep.py --config=experiments/learnability.py:cpu --workdir=runs/learnability_cpu
    python scripts/sweep.py --config=experiments/learnability.py:full --workdir=runs/learnability

`get_config(arg)` is the shared base of every point (the adding problem, whose task
has no options, so a point may switch ``task.name`` to any task and get that
task's defaults); `get_sweep(arg)` lists the points: ``model.name`` ×
``task.name`` × ``task.length``; seeds are vmapped inside each run
(``train.num_seeds``). An interrupted sweep resumes (the sweep machinery).

A point is *solved* when its eval loss is at most ``SUCCESS_FRACTION`` (10 %) of
the task's chance level (`Task.baseline`, the memoryless predictor).

Variants (``arg``):
  full (default)  every architecture × adding, delayed_recall, selective_copy ×
                  T ∈ {50, 100, 200, 400, 800}; H = 64, 3 seeds, 3000 steps (an accelerator).
  cpu             every architecture × adding, delayed_recall × T ∈ {25, 100};
                  H = 16, 2 seeds, 300 steps: sized for 45 minutes on 2 CPU cores
                  (to be measured on an idle machine).
  quick           lstm, gru × adding, selective_copy × T = 6, 4 steps (smoke test).
"""

from seqgrad import models
from seqgrad.train import config as cfg

SUCCESS_FRACTION = 0.1
MODEL_OPTIONS = {"transformer": {"num_layers": 2, "num_heads": 4}, "skip_rnn": {"skip": 5}}

VARIANTS = {
    "full": {
        "models": None,  # every registered architecture
        "tasks": ("adding", "delayed_recall", "selective_copy"),
        "lengths": (50, 100, 200, 400, 800),
        "steps": 3000,
        "hidden_size": 64,
        "num_seeds": 3,
    },
    "cpu": {
        "models": None,
        "tasks": ("adding", "delayed_recall"),
        "lengths": (25, 100),
        "steps": 300,
        "hidden_size": 16,
        "num_seeds": 2,
    },
    "quick": {
        "models": ("lstm", "gru"),
        "tasks": ("adding", "selective_copy"),
        "lengths": (6,),
        "steps": 4,
        "hidden_size": 4,
        "num_seeds": 2,
    },
}


def _variant(arg):
    name = arg or "full"
    if name not in VARIANTS:
        raise ValueError(f"learnability variant {name!r} is unknown; valid choices: {sorted(VARIANTS)}")
    return VARIANTS[name]


def architectures(arg=None) -> list[str]:
    return list(_variant(arg)["models"] or models.available())


def get_config(arg=None):
    v = _variant(arg)
    c = cfg.base_config()
    cfg.set_model(c, architectures(arg)[0])
    c.model.hidden_size = v["hidden_size"]
    cfg.set_task(c, "adding", v["lengths"][0])
    c.train.steps = v["steps"]
    c.train.batch_size = 32
    c.train.num_seeds = v["num_seeds"]
    cfg.use_adam_recipe(c, warmup_steps=min(100, v["steps"] // 10))
    quick = arg == "quick"
    c.train.steps_per_dispatch = 2 if quick else 50
    c.train.progress = not quick
    c.checkpoint.every = 2 if quick else 500
    c.eval.batch_size = 16 if quick else 256
    c.eval.num_batches = 1 if quick else 2
    c.lock()
    return c


def get_sweep(arg=None):
    v = _variant(arg)
    return [
        {"model.name": model, "task.name": task, "task.length": length,
         **{f"model.options.{k}": val for k, val in MODEL_OPTIONS.get(model, {}).items()}}
        for model in architectures(arg)
        for task in v["tasks"]
        for length in v["lengths"]
    ]
