"""Statistics over random initialisations: one PRNG key per seed, vmapped, never a Python loop.

A measurement ``key -> pytree`` (init, input and target all drawn from the key)
runs for S seeds as ``jax.vmap(measure)(keys(seed, S))``; results are reported as
the median with the 25th and 75th percentiles as the spread.
"""

from __future__ import annotations

import warnings

import jax
import numpy as np


def keys(seed: int, num_seeds: int) -> jax.Array:
    """``[num_seeds]`` independent PRNG keys derived from ``seed``."""
    if isinstance(num_seeds, bool) or not isinstance(num_seeds, int) or num_seeds < 1:
        raise ValueError(f"num_seeds={num_seeds!r} is invalid: it must be a positive integer")
    return jax.random.split(jax.random.key(seed), num_seeds)


def median_spread(values, axis: int = 0) -> dict[str, np.ndarray]:
    """``{"median", "q25", "q75"}`` over ``axis`` (the seed axis), ignoring nans."""
    values = np.asarray(values, np.float64)
    with warnings.catch_warnings():  # an all-nan slice (nothing measured) stays nan
        warnings.simplefilter("ignore", RuntimeWarning)
        q25, median, q75 = np.nanpercentile(values, [25, 50, 75], axis=axis)
    return {"median": median, "q25": q25, "q75": q75}


def stats(values) -> dict[str, float]:
    """A scalar over initialisations × inputs ``[S, I]`` (or ``[S]``: one input per seed), nans ignored:
    ``{"median", "q25", "q75"}`` over all values, ``"spread_over_inits"`` (the interquartile range over
    seeds of each seed's median over inputs) and ``"spread_over_inputs"`` (the median over seeds of the
    interquartile range over one seed's inputs)."""
    values = np.asarray(values, np.float64)
    if values.ndim == 1:
        values = values[:, None]
    with warnings.catch_warnings():  # an all-nan slice (nothing measured) stays nan
        warnings.simplefilter("ignore", RuntimeWarning)
        q25, median, q75 = np.nanpercentile(values, [25, 50, 75])
        per_seed = np.nanmedian(values, axis=1)
        inits = np.subtract(*np.nanpercentile(per_seed, [75, 25]))
        inputs = np.nanmedian(np.subtract(*np.nanpercentile(values, [75, 25], axis=1)))
    return {"median": float(median), "q25": float(q25), "q75": float(q75),
            "spread_over_inits": float(inits), "spread_over_inputs": float(inputs)}
