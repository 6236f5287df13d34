"""MNIST-1D (Greydanus 2020), T = 40: ``--config=experiments/mnist1d.py:<architecture>``.

Generated locally by the ``mnist1d`` package (4000 train / 1000 held-out).
``--config.task.options.shuffled=True`` reads the positions in a fixed random order.
Published held-out accuracies: logistic 32 %, MLP 68 %, GRU 91 %, CNN 94 %;
shuffled GRU 57 %. Chance level ≈ 10 %. The default budget (H = 128, batch 100,
3000 steps of Adam 3e-3 with warmup and cosine decay) is sized for a few minutes
on 2 CPU cores for the GRU.
"""

from seqgrad.train import config as cfg

MODEL_OPTIONS = {
    "transformer": {"num_layers": 2, "num_heads": 4},
    "skip_rnn": {"skip": 4},
}


def get_config(arg: str = "gru"):
    c = cfg.base_config()
    cfg.set_task(c, "mnist1d", 40, shuffled=False, data_seed=42)
    cfg.set_model(c, arg, **MODEL_OPTIONS.get(arg, {}))
    c.model.hidden_size = 128
    c.train.steps = 3000
    c.train.batch_size = 100
    cfg.use_adam_recipe(c, learning_rate=3e-3, warmup_steps=100)
    c.checkpoint.every = 1000
    c.eval.batch_size = 1000  # unused: mnist1d evaluates the whole held-out split
    c.eval.num_batches = 1
    c.snapshot.every = 0
    c.lock()
    return c
