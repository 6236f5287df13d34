"""What every measurement program draws: parameters and input sequences of one seed.

The parameters are the architecture's initialisation followed by the entry's ``init``
(`initialise`; ``"chrono"``: `chrono`, see `seqgrad.jobs.gradient_flow.conditions.INITS`).

Drawn in float32 always, then cast, so float32 and float64 runs see the same model.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from seqgrad.gradflow import seeds


def _cast(tree, dtype):
    return jax.tree.map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


def draw_inputs(entry, config, key, T: int, dtype):
    """Standard-normal inputs ``[I, T, D]``, long inputs ``[T_lyap, D]`` and target ``[H]`` of one seed."""
    _, k_x, k_y, k_long = jax.random.split(key, 4)
    D, H = entry_input_size(entry, config), entry.model.hidden_size
    xs = jax.random.normal(k_x, (config.num_inputs, T, D), jnp.float32)
    x_long = jax.random.normal(k_long, (config.lyapunov.T, D), jnp.float32)
    target = jax.random.normal(k_y, (H,), jnp.float32)
    return _cast((xs, x_long, target), dtype)


def draw_params(entry, config, key, dtype, index=0):
    """The model parameters of one seed: initialised from ``key`` (float32, then cast), or, for an
    entry of a trained run (``entry.trained``), its replica ``index`` (a traced integer is fine)."""
    if getattr(entry, "trained", None) is not None:
        params = jax.tree.map(lambda leaf: jnp.asarray(leaf)[index], entry.trained.params["model"])
    else:
        k_init = jax.random.split(key, 4)[0]
        x = jnp.zeros((1, config.T, entry_input_size(entry, config)), jnp.float32)  # init reads shapes only
        params = initialise(entry.model, entry.init, k_init, x, config.T)
    return _cast(params, dtype)


def draw(entry, config, key, T: int, dtype, index=0):
    """Params, standard-normal inputs ``[I, T, D]``, long inputs ``[T_lyap, D]`` and target ``[H]`` of one seed.

    Drawn in float32 always, then cast: float32 and float64 runs see the same model.
    An entry of a trained run (``entry.trained``) takes the model parameters of its
    replica ``index`` (a traced integer is fine) instead of initialising; D and H are
    then the run's.
    """
    xs, x_long, target = draw_inputs(entry, config, key, T, dtype)
    return draw_params(entry, config, key, dtype, index), xs, x_long, target


def data_fn(entry, config, dtype, length: int):
    """``keys [S] -> {"xs": [S, I, L, D], "x_long": [S, T_lyap, D], "target": [S, H]}``: every seed's inputs
    (`draw_inputs`, L = ``length``), drawn once and shared by every program of the entry, jitted."""
    def draw_all(keys):
        xs, x_long, target = jax.vmap(lambda key: draw_inputs(entry, config, key, length, dtype))(keys)
        return {"xs": xs, "x_long": x_long, "target": target}

    return jax.jit(draw_all)


def params_fn(entry, config, dtype):
    """``keys [S] -> params`` with a leading seed axis S: `draw_params` of every seed, jitted.

    The measurement programs take these as an argument rather than initialising inside:
    entries that differ only in their initialisation (forget bias, chrono, update bias)
    then lower to the same program, compiled once (`seqgrad.jobs.gradient_flow.Programs`),
    and a trained run's weights are not baked into the program as constants.
    """
    return jax.jit(lambda keys: jax.vmap(lambda k, i: draw_params(entry, config, k, dtype, i))(
        keys, jnp.arange(keys.shape[0])))


def entry_input_size(entry, config) -> int:
    """D of an entry's inputs: the trained run's task input size, else ``config.input_size``."""
    run = getattr(entry, "trained", None)
    return int(run.trainer.task.input_dim) if run is not None else int(config.input_size)


def num_seeds(entry, config) -> int:
    """S of an entry: its trained run's replicas, else ``config.num_seeds`` initialisations."""
    run = getattr(entry, "trained", None)
    return len(run.trainer.replicas) if run is not None else int(config.num_seeds)


def measurement_inputs(entry, config):
    """``(dtype, keys [S], scales [C])`` of an entry's measurement."""
    dtype = jnp.float64 if config.float64 else jnp.float32
    n = num_seeds(entry, config)
    return dtype, seeds.keys(config.seed, n), np.asarray(config.conditions.input_scale, np.float32)


def chrono(params, key, t_max: int):
    """Chrono-initialised LSTM biases: every layer's ``bias [4H]`` in gate order (i, f, o, c̃).

    ``b_f = log u``, ``u ~ U(1, t_max − 1)``; ``b_i = −b_f``; ``b_o``, ``b_c̃`` unchanged.
    """
    flat = traverse_util.flatten_dict(params)
    for i, path in enumerate(sorted(p for p in flat if p[-1] == "bias")):
        bias = flat[path]
        H = bias.shape[0] // 4
        u = jax.random.uniform(jax.random.fold_in(key, i), (H,), jnp.float32, 1.0, max(float(t_max) - 1.0, 1.0))
        b_f = jnp.log(u).astype(bias.dtype)
        flat[path] = bias.at[H:2 * H].set(b_f).at[:H].set(-b_f)
    return traverse_util.unflatten_dict(flat)


def initialise(model, init: str, key, x, t_max: int):
    """``model.init(key, x)`` followed by the entry's initialisation ``init``."""
    params = model.init(key, x)
    return chrono(params, jax.random.fold_in(key, 1), t_max) if init == "chrono" else params
