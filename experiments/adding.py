"""The adding problem (T = 100): ``--config=experiments/adding.py:<architecture>``.

The constant predictor scores MSE 1/6; a model that carries the first marked value
across the sequence goes well below it. Longer T: ``--config.task.length=200``.
"""

from seqgrad.train import config as cfg

# Per-architecture options (everything else is the model's default).
MODEL_OPTIONS = {
    "transformer": {"num_layers": 2, "num_heads": 4},
    "skip_rnn": {"skip": 10},
}


def get_config(arg: str = "lstm"):
    c = cfg.base_config()
    cfg.set_task(c, "adding", 100)
    cfg.set_model(c, arg, **MODEL_OPTIONS.get(arg, {}))
    c.model.hidden_size = 64
    c.train.steps = 3000
    c.train.batch_size = 32
    cfg.use_adam_recipe(c)
    c.checkpoint.every = 500
    c.eval.batch_size = 500
    c.eval.num_batches = 4
    c.snapshot.every = 1000
    c.lock()
    return c
