"""scikit-learn's 8x8 digits read pixel by pixel (T = 64): ``--config=experiments/digits.py:<architecture>``.

``--config.task.options.permuted=True`` reads the pixels in a fixed random order.
Evaluation uses the held-out 20 % of the images; chance level ≈ 10 % accuracy.
"""

from seqgrad.train import config as cfg

MODEL_OPTIONS = {
    "transformer": {"num_layers": 2, "num_heads": 4},
    "skip_rnn": {"skip": 8},
}


def get_config(arg: str = "lstm"):
    c = cfg.base_config()
    cfg.set_task(c, "digits", 64, permuted=False, permutation_seed=0, test_fraction=0.2, split_seed=0)
    cfg.set_model(c, arg, **MODEL_OPTIONS.get(arg, {}))
    c.model.hidden_size = 64
    c.train.steps = 2000
    c.train.batch_size = 64
    cfg.use_adam_recipe(c)
    c.checkpoint.every = 500
    c.eval.batch_size = 500  # unused: digits evaluates the whole held-out split
    c.eval.num_batches = 1
    c.snapshot.every = 1000
    c.lock()
    return c
