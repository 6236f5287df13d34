"""Delayed recall (report the first of T = 50 tokens): ``--config=experiments/delayed_recall.py:<architecture>``.

Chance level: cross-entropy ln 8, accuracy 1/8.
"""

from seqgrad.train import config as cfg

MODEL_OPTIONS = {
    "transformer": {"num_layers": 2, "num_heads": 4},
    "skip_rnn": {"skip": 5},
}


def get_config(arg: str = "lstm"):
    c = cfg.base_config()
    cfg.set_task(c, "delayed_recall", 50, num_symbols=8, distractors=True)
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
