"""The curse of memory (Zucchet & Orvieto 2024): ``python scripts/curse_of_memory.py
--config=experiments/curse_of_memory.py --workdir=DIR`` (`seqgrad.jobs.memory_curse.run`).

E[(∂h/∂θ)²] of scalar recurrences h_t = λ(θ) h_{t−1} + s(θ) x_t vs 1 − λ, measured
over white-noise sequences and in closed form. ``length`` must be ≫ 1/(1 − λ_max)
for the long-T limit (10 000 ≈ 10/(1 − 0.999)). Variant ``:quick`` is a smoke run.
"""

import ml_collections

from seqgrad.gradflow import sensitivity


def get_config(arg: str = "default"):
    c = ml_collections.ConfigDict()
    # Tuples, not lists: ml_collections overrides tuples from the command line
    # (--config.lambdas='(0.9, 0.99)'), never lists.
    c.recurrences = tuple(sorted(sensitivity.RECURRENCES))
    c.lambdas = (0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)
    c.length = 10_000
    c.num_sequences = 1024
    c.seed = 0
    c.fit_from = 0.9  # fit the exponent where the long-memory asymptote holds
    c.explode_slope = 0.5  # "explodes": E[(∂h/∂θ)²] grows faster than (1 − λ)^−0.5
    if arg == "quick":
        c.lambdas = (0.5, 0.9, 0.95, 0.99)
        c.length = 1000
        c.num_sequences = 256
    elif arg != "default":
        raise ValueError(f"config variant {arg!r} is unknown; valid choices: ['default', 'quick']")
    c.lock()
    return c
