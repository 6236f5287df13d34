"""The compiled measurements of one analysis entry: one call per (entry, T) covers every value-only condition.

For an entry, `measure_fn` returns one jitted
``(keys [S], scales [C]) -> {quantity: [C, S, ...]}`` covering every condition:
for every input scale s, seed (initialisation) and input sequence i
(``config.num_inputs`` per seed), with ``x = s·z``, ``z ~ N(0, 1)^{T_max×D}``,

* for every length T of ``config.conditions.T``, the state Jacobians
  ``∂h_{T-1}/∂h_{T-1-d}`` on the prefix ``x[:T]`` and their singular values,
  spectral and Frobenius norms and condition numbers (``"T{T}/spectral_norm"``
  etc., ``[C, S, I, T, ...]``); for a clockwork RNN also the spectral norm of
  every module's diagonal block ``∂h_{T-1}[g]/∂h_{T-1-d}[g]`` (``[C, S, I, T, G]``).
  Every model is causal, so ``∂h_{T-1}/∂h_t`` on ``x`` equals that on ``x[:T]``:
  one reverse pass with a cotangent on every ``h_{T-1}`` gives all lengths;
* the Lyapunov exponents over ``config.lyapunov.T`` steps (``[C, S, k]``) and the
  seed's experiment on the first input (``[C, S, ...]``), which do not depend on T.

Input scale, seeds, inputs and lengths are one compiled call: one compilation per entry
(seeds vmapped; scales and inputs by `jax.lax.map`, which bounds the memory).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from seqgrad.gradflow import attribution, conditions, lyapunov, profile, spectra


def _cast(tree, dtype):
    return jax.tree.map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


def draw(entry, config, key, T: int, dtype):
    """Params, standard-normal inputs ``[I, T, D]``, long inputs ``[T_lyap, D]`` and target ``[H]`` of one seed.

    Drawn in float32 always, then cast: float32 and float64 runs see the same model.
    """
    k_init, k_x, k_y, k_long = jax.random.split(key, 4)
    xs = jax.random.normal(k_x, (config.num_inputs, T, config.input_size), jnp.float32)
    params = conditions.initialise(entry.model, entry.init, k_init, xs[:1], config.T)
    x_long = jax.random.normal(k_long, (config.lyapunov.T, config.input_size), jnp.float32)
    target = jax.random.normal(k_y, (config.hidden_size,), jnp.float32)
    return _cast((params, xs, x_long, target), dtype)


def module_blocks(J, num_modules: int):
    """``[T, H, H] -> [T, G, H/G, H/G]``: the diagonal block of every module (clockwork order)."""
    m = J.shape[-1] // num_modules
    return jnp.stack([J[:, g * m:(g + 1) * m, g * m:(g + 1) * m] for g in range(num_modules)], axis=1)


def jacobians_by_length(model, params, x, site: str, lengths) -> list:
    """``[∂h_{T-1}/∂h_t for t < T]`` (each ``[T, n, n]``) for every T in ``lengths``, from ``x: [T_max, D]``."""
    n = profile.site_width(model, site)

    def probes(delta):
        _, probe = model.apply(params, x[None], delta[None], site=site, return_probe=True)
        return jnp.stack([probe[0, T - 1] for T in lengths])  # [L, n]

    jac = jax.jacrev(probes)(jnp.zeros((x.shape[0], n), x.dtype))  # [L, n, T_max, n]
    return [jnp.swapaxes(jac[i, :, :T], 0, 1) for i, T in enumerate(lengths)]


def _summary(entry, J):
    out = dict(spectra.summarize(J))
    if entry.modules:
        out["module_norm"] = spectra.singular_values(spectra.by_distance(module_blocks(J, entry.modules)))[..., 0]
    return out


def lengths_of(config) -> tuple[int, ...]:
    return tuple(sorted(set(config.conditions.T)))


def _stacks(entry, config, dtype, keys, scales, lengths=None):
    """``{T: [C, S, I, T, n, n]}`` Jacobian stacks: scales by `jax.lax.map`, seeds and inputs vmapped.

    Mapping the scales bounds the memory of the reverse passes (C times less than
    one batch of all sequences: attention at T = 512 holds gigabytes otherwise).
    No LAPACK call runs inside the map: on CPU, XLA's batched SVD/QR inside a
    loop body can deadlock its thread pool, so the spectra are taken outside.
    """
    lengths = lengths or lengths_of(config)

    def one_seed(key, scale):
        params, xs, _, _ = draw(entry, config, key, max(lengths_of(config)), dtype)
        xs = xs[:, : max(lengths)]
        Js = jax.vmap(lambda x: jacobians_by_length(entry.model, params, scale * x, entry.site, lengths))(xs)
        return dict(zip(lengths, Js))

    return jax.lax.map(lambda s: jax.vmap(one_seed, in_axes=(0, None))(keys, s), scales)


def _extras(entry, config, dtype, key, scale):
    """Lyapunov exponents and the seed's experiment of one seed at one input scale."""
    names = entry.info.recurrent_params
    lengths = tuple(config.seed_experiment.lengths)
    lyap = config.lyapunov
    params, xs, x_long, target = draw(entry, config, key, max(lengths_of(config)), dtype)
    out = {}
    exponents = lyapunov.lyapunov_exponents(
        entry.model, params, scale * x_long, num_exponents=lyap.num_exponents, burn_in=lyap.burn_in
    )
    if exponents is not None:
        out["lyapunov"] = exponents
    if names:
        batch = config.seed_experiment.decomposition_batch or None
        x = scale * xs[0, : max(lengths)]
        out["gradient_vs_length"], contributions = attribution.seed_experiment(
            entry.model, params, x, target, names, lengths, batch_size=batch
        )
        out["contribution_norm"] = attribution.contribution_norms(contributions)
        out["gradient_norm"] = attribution.gradient_norm(jax.tree.map(lambda g: g.sum(0), contributions))
    return out


def _over_all(f):
    """``f(key, scale) -> tree`` to ``(keys [S], scales [C]) -> [C, S, ...]`` (both vmapped)."""
    return jax.vmap(jax.vmap(f, in_axes=(0, None)), in_axes=(None, 0))


def _batched(fn, stack, lead: int):
    """``fn`` over the leading ``lead`` axes of ``stack`` (vmapped)."""
    for _ in range(lead):
        fn = jax.vmap(fn)
    return fn(stack)


def measure_fn(entry, config, dtype):
    """``(keys [S], scales [C]) -> {quantity: [C, S, ...]}``, jit-compiled once per entry."""

    def measure(keys, scales):
        out = {}
        for T, J in _stacks(entry, config, dtype, keys, scales).items():
            summary = _batched(lambda j: _summary(entry, j), J, 3)
            out.update({f"T{T}/{k}": v for k, v in summary.items()})
        out.update(_over_all(lambda k, s: _extras(entry, config, dtype, k, s))(keys, scales))
        return out

    return jax.jit(measure)


def norms_fn(entry, config, dtype):
    """``(keys [S], scales [C]) -> spectral norms [C, S, I, T]`` at the default T only (the float64 recheck)."""

    def norms(keys, scales):
        (J,) = _stacks(entry, config, dtype, keys, scales, (config.T,)).values()
        return _batched(lambda j: spectra.summarize(j)["spectral_norm"], J, 3)

    return jax.jit(norms)
