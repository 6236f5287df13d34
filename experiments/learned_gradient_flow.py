"""Gradient flow at initialisation vs after training (adding problem, T = 200):
``python scripts/learned_gradient_flow.py --config=experiments/learned_gradient_flow.py --workdir=DIR``
(`seqgrad.jobs.learned.run`).

LSTM, GRU and tanh RNN are trained with `experiments/adding.py`'s recipe
(H = 64, batch 32, 2 seeds vmapped), then compared with their initialisation on
the task's own sequences. Variant ``:quick`` (T = 20, 60 steps) is a smoke run.
A run interrupted half-way resumes each architecture from its checkpoints.
"""

import importlib.util
import os

import ml_collections

_ADDING = os.path.join(os.path.dirname(os.path.abspath(__file__)), "adding.py")


def _adding_config(arch: str):
    spec = importlib.util.spec_from_file_location("seqgrad_experiment_adding", _ADDING)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(arch)


def get_config(arg: str = "default"):
    if arg not in ("default", "quick"):
        raise ValueError(f"config variant {arg!r} is unknown; valid choices: ['default', 'quick']")
    quick = arg == "quick"
    c = ml_collections.ConfigDict()
    c.architectures = ("lstm", "gru", "rnn")  # tuples: overridable from the command line
    c.train_configs = ml_collections.ConfigDict()
    for arch in c.architectures:
        t = _adding_config(arch)
        t.task.length = 20 if quick else 200
        t.train.steps = 60 if quick else 2000
        t.train.num_seeds = 2
        t.train.progress = False
        t.checkpoint.every = 30 if quick else 500
        t.snapshot.every = 0
        t.eval.batch_size, t.eval.num_batches = (64, 1) if quick else (500, 2)
        c.train_configs[arch] = t
    c.seed = 1234  # the analysis sequences
    c.num_sequences = 16 if quick else 64
    c.jacobian_sequences = 2 if quick else 4
    c.distances = (1, 10, 19) if quick else (1, 10, 50, 100, 199)
    c.gate_threshold = 0.95
    c.success_fraction = 0.1  # solved: eval loss <= 10 % of the chance level
    c.lock()
    return c
