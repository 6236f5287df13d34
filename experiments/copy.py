"""The copy memory task (delay T = 100): ``--config=experiments/copy.py:<architecture>``.

A memoryless model scores the cross-entropy 10·ln 8 / (T + 20) (0.173 at T = 100).
"""

from seqgrad.train import config as cfg

MODEL_OPTIONS = {
    "transformer": {"num_layers": 2, "num_heads": 4},
    "skip_rnn": {"skip": 10},
}


def get_config(arg: str = "lstm"):
    c = cfg.base_config()
    cfg.set_task(c, "copy", 100)
    cfg.set_model(c, arg, **MODEL_OPTIONS.get(arg, {}))
    c.model.hidden_size = 128
    c.train.steps = 5000
    c.train.batch_size = 32
    cfg.use_adam_recipe(c, learning_rate=1e-3, warmup_steps=200)
    c.checkpoint.every = 500
    c.eval.batch_size = 250
    c.eval.num_batches = 4
    c.snapshot.every = 1000
    c.lock()
    return c
