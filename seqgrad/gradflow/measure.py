"""The compiled measurements of one analysis entry: one call covers every value-only condition.

For an entry, `measure_fn` returns a `Measurement`
``(keys [S], scales [C]) -> {quantity: [C, S, ...]}`` covering every condition:
for every input scale s, seed (initialisation) and input sequence i
(``config.num_inputs`` per seed), with ``x = s·z``, ``z ~ N(0, 1)^{T_max×D}``,

* for every length T of ``config.conditions.T``, the state Jacobians
  ``∂h_{T-1}/∂h_{T-1-d}`` on the prefix ``x[:T]`` and their singular values,
  spectral and Frobenius norms and condition numbers (``"T{T}/spectral_norm"``
  etc., ``[C, S, I, T, ...]``), the ∞-norms (``"T{T}/inf_norm"``) where a bound reads
  them (`HOOKS`); for a clockwork RNN also the spectral norm of
  every module's diagonal block ``∂h_{T-1}[g]/∂h_{T-1-d}[g]`` (``[C, S, I, T, G]``).
  Every model is causal, so ``∂h_{T-1}/∂h_t`` on ``x`` equals that on ``x[:T]``:
  each length is one reverse pass over its own prefix;
* the Lyapunov exponents over ``config.lyapunov.T`` steps (``[C, S, k]``), the
  number of exactly-zero tangent directions met (``"lyapunov_zero_directions"``,
  ``[C, S]``) and the seed's experiment on the first input (``[C, S, ...]``), which
  do not depend on T;
* where the architecture's module defines one of the hooks of `HOOKS`, its
  measure (``[C, S]``): ``"log_bound"``, ln ρ of a proven bound
  ``‖∂h_{T-1}/∂h_{T-1-d}‖_∞ ≤ ρ^d`` (coRNN), and ``"variance_ratio"``,
  ``Var(h_t)/Var(input to the state)`` on the seed's white-noise inputs (RG-LRU).

Input scale, seeds, inputs and lengths are values of a few compiled programs per entry,
never a recompilation: `params_fn` draws every seed's parameters (``keys -> params [S, ...]``),
and the `PARTS` take them as an argument, ``(params, keys, scales) -> {quantity: [C, S, ...]}``:
``profiles`` (the Jacobian stacks one sequence at a time by `jax.lax.map`, which bounds the
memory), ``lyapunov`` (exponents and `HOOKS`) and ``seed_experiment``, both vmapped over
seeds and scales. Entries that differ only in their initialisation therefore lower to
the same parts (`seqgrad.gradflow.programs` compiles each once).
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np

from seqgrad.gradflow import attribution, conditions, lyapunov, profile, spectra


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
        params = conditions.initialise(entry.model, entry.init, k_init, x, config.T)
    return _cast(params, dtype)


def draw(entry, config, key, T: int, dtype, index=0):
    """Params, standard-normal inputs ``[I, T, D]``, long inputs ``[T_lyap, D]`` and target ``[H]`` of one seed.

    Drawn in float32 always, then cast: float32 and float64 runs see the same model.
    An entry of a trained run (``entry.trained``) takes the model parameters of its
    replica ``index`` (a traced integer is fine) instead of initialising; D and H are
    then the run's.
    """
    return (draw_params(entry, config, key, dtype, index), *draw_inputs(entry, config, key, T, dtype))


def params_fn(entry, config, dtype):
    """``keys [S] -> params`` with a leading seed axis S: `draw_params` of every seed, jitted.

    The measurement programs take these as an argument rather than initialising inside:
    entries that differ only in their initialisation (forget bias, chrono, update bias)
    then lower to the same program, compiled once (`seqgrad.gradflow.analysis.Programs`),
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


def module_blocks(J, num_modules: int):
    """``[T, H, H] -> [T, G, H/G, H/G]``: the diagonal block of every module (clockwork order)."""
    m = J.shape[-1] // num_modules
    return jnp.stack([J[:, g * m:(g + 1) * m, g * m:(g + 1) * m] for g in range(num_modules)], axis=1)


def jacobians_by_length(model, params, x, site: str, lengths) -> list:
    """``[∂h_{T-1}/∂h_t for t < T]`` (each ``[T, n, n]``) for every T in ``lengths``, from ``x: [T_max, D]``.

    The zero-state profiles (``config.burn_in = 0``): every model is causal, so each length is
    one ``jax.jacrev`` on its own prefix ``x[:T]``: n cotangents pulled back through T steps,
    Σ_T T·n step-cotangents in all (one pass over ``x[:T_max]`` with a cotangent on every
    ``h_{T-1}`` would cost len(lengths)·T_max·n, and a quadratic model's attention over T_max
    for every length).
    """
    return [window_jacobians(model, params, x[: int(T)], site, int(T)) for T in lengths]


def window_jacobians(model, params, x, site: str, window: int):
    """``∂h_{L-1}/∂h_t`` for the last ``window`` steps ``t = L − window … L − 1`` of ``x: [L, D]``: ``[window, n, n]``.

    The perturbation δ_t enters only inside the window (the first ``L − window`` steps are a
    burn-in that carries the state away from its zero start); one ``jax.jacrev`` pulls n
    cotangents back from ``h_{L-1}``. A step-wise recurrence takes the window as a
    `recurrence.Window` (the burn-in runs forward only: ``window`` reverse steps per
    cotangent, not L); other models get δ padded with zeros (L reverse steps, same numbers).
    Time order: row ``window − 1 − d`` is ``J(d)``.
    """
    L, n = x.shape[0], profile.site_width(model, site)
    lead = L - window

    def last(perturbation):
        _, p = model.apply(params, x[None], perturbation, site=site, return_probe=True)
        return p[0, L - 1]

    J = profile.through_window(lambda f, z: jax.jacrev(f)(z), last, jnp.zeros((window, n), x.dtype), lead)
    return jnp.swapaxes(J, 0, 1)  # [n, W, n] -> [W, n, n]


def burn_in(config) -> int:
    """Steps run before every profile window (``config.burn_in``; 0: the zero-state start-up)."""
    return int(config.get("burn_in", 0) or 0)


def lyapunov_burn_in(config) -> int:
    """Steps before the Lyapunov exponents are recorded: ``config.lyapunov.burn_in``, or ``config.burn_in``
    where it is -1 (the default: the exponents read the same driven dynamics as the profiles)."""
    value = int(config.lyapunov.burn_in)
    return burn_in(config) if value == -1 else value


def sequence_length(config) -> int:
    """Length of every drawn input sequence: the burn-in plus the longest window, ``B + max(conditions.T)``."""
    return burn_in(config) + max(lengths_of(config))


def computed_lengths(config, lengths) -> tuple[int, ...]:
    """The windows whose stacks are computed for ``lengths``: all of them from the zero state; after a
    burn-in only the longest, since every window ends at the same step ``B + max(conditions.T) − 1`` and a
    shorter window is its last T steps (`expand_windows`)."""
    lengths = tuple(sorted(set(int(T) for T in lengths)))
    return lengths if not burn_in(config) else (max(lengths),)


def expand_windows(out: dict, lengths) -> dict:
    """Adds ``"T{T}/q"`` for every T of ``lengths`` missing from ``out`` as the first T distances of the
    longest window's ``"T{W}/q"`` (``[C, S, I, W, ...]`` by distance d, axis 3): after a burn-in the windows
    share their end, so ``J(d)`` for ``d < T`` is the same matrix in both."""
    present = sorted({int(k.split("/")[0][1:]) for k in out if isinstance(k, str) and k.startswith("T") and "/" in k})
    if not present:
        return out
    W = max(present)
    for T in sorted(set(int(t) for t in lengths)):
        for key in [k for k in out if isinstance(k, str) and k.startswith(f"T{W}/")] if T < W else ():
            name = f"T{T}/{key.split('/', 1)[1]}"
            if name not in out:
                out[name] = out[key][:, :, :, :T]
    return out


def _reductions(entry, J):
    """What a stack ``[T, n, n]`` gives without LAPACK: ``inf_norm`` ``[T]`` (by distance) where the
    architecture has a ``state_jacobian_bound`` hook, and the clockwork module norms ``[T, G]``
    (`spectra.spectral_norm_by_squaring` of every module's diagonal block)."""
    out = {}
    if hook(entry, "state_jacobian_bound") is not None:
        out["inf_norm"] = spectra.inf_norm(spectra.by_distance(J))
    if entry.modules:
        out["module_norm"] = spectra.spectral_norm_by_squaring(spectra.by_distance(module_blocks(J, entry.modules)))
    return out


def lengths_of(config) -> tuple[int, ...]:
    return tuple(sorted(set(config.conditions.T)))


SEQUENTIAL_BATCH = 9  # sequences per step of the map for a sequential recurrence (``parallel == "no"``)


def sequence_batch(entry, config) -> int:
    """Sequences whose Jacobian stacks one step of `_stacks`'s map takes at once (vmapped).

    ``config.sequence_batch`` when set (> 0); else (0) `SEQUENTIAL_BATCH` for an architecture that is a
    sequential recurrence (``parallel == "no"``: a scan of small matmuls, whose per-step loop overhead
    batching amortises) and 1 for the others, whose batched form was slower. Measured, run seconds of the
    45 stacks at T = 128 and 512 one at a time / 9 at a time: rnn 0.45 / 0.22, lstm 1.74 / 1.12,
    lstm_state 5.00 / 2.60, cornn 0.72 / 0.32, indrnn 0.49 / 0.16; attention_rnn 3.81 / 7.83, lru 0.24 / 0.54
    (`benchmarks/bench_sequence_batch.py`).
    """
    value = int(config.get("sequence_batch", 0) or 0)
    if value:
        return value
    return SEQUENTIAL_BATCH if entry.info.parallel == "no" else 1


def _stacks(entry, config, dtype, params, keys, scales, lengths=None):
    """``{W: [C, S, I, W, n, n]}`` Jacobian stacks of every (scale, seed, input) sequence, for every
    window W of `computed_lengths` (time order: ``[..., W − 1 − d, :, :]`` is J(d)).

    Each input is ``B + max(conditions.T)`` steps long (`sequence_length`); after a burn-in of
    B = ``config.burn_in`` steps the profile is that of the longest window, which ends at the
    last step (shorter windows are its first T distances, `expand_windows`); with B = 0 every
    length is a zero-state prefix (`jacobians_by_length`).

    The C·S·I sequences run through one `jax.lax.map`, `sequence_batch` at a time: one at
    a time bounds the memory to one sequence's reverse passes (a Transformer at T = 512 held
    15 GB when seeds and inputs were vmapped) and is faster on CPU for the parallel models
    (measured: Transformer 15 s vs 55 s, mLSTM 10 s vs 26 s for 45 sequences at T = 128 and
    512, all vmapped); a few at a time is faster for the sequential recurrences. No LAPACK
    call runs inside the map: on CPU, XLA's batched SVD/QR inside a loop body can deadlock
    its thread pool, so the spectra are taken outside.
    """
    lengths = computed_lengths(config, lengths or lengths_of(config))
    C, S, I = scales.shape[0], keys.shape[0], int(config.num_inputs)
    L, B = sequence_length(config), burn_in(config)
    xs = jax.vmap(lambda key: draw_inputs(entry, config, key, L, dtype)[0])(keys)  # [S, I, L, D]
    if not B:
        xs = xs[:, :, : max(lengths)]

    def one(index):
        c, s, i = index // (S * I), (index // I) % S, index % I
        seed_params = jax.tree.map(lambda leaf: leaf[s], params)
        x = scales[c] * xs[s, i]
        if B:
            return [window_jacobians(entry.model, seed_params, x, entry.site, lengths[0])]
        return jacobians_by_length(entry.model, seed_params, x, entry.site, lengths)

    batch = min(sequence_batch(entry, config), C * S * I)
    Js = jax.lax.map(one, jnp.arange(C * S * I), batch_size=batch if batch > 1 else None)
    return {T: J.reshape(C, S, I, *J.shape[1:]) for T, J in zip(lengths, Js)}


# Optional module-level functions of an architecture's module (the module that defines its registered class),
# found by name, so that an architecture opts in without editing this file:
#   state_jacobian_bound(model, params, site) -> ρ: ‖∂h_{T-1}/∂h_{T-1-d}‖_∞ ≤ ρ^d at ``site`` for every d and
#       input (a proven bound; `seqgrad.models.cornn.state_jacobian_bound`). Recorded as ln ρ, "log_bound".
#   state_variance_ratio(model, params, xs [I, T, D]) -> Var(h)/Var(input to the state) over the second half
#       (`seqgrad.models.rg_lru.state_variance_ratio`). Recorded as "variance_ratio".
HOOKS = {"state_jacobian_bound": "log_bound", "state_variance_ratio": "variance_ratio"}


def hook(entry, name: str):
    """The architecture module's function ``name`` of `HOOKS`, or None when it defines none."""
    if name not in HOOKS:
        raise ValueError(f"hook={name!r} is invalid; valid choices: {list(HOOKS)}")
    module = sys.modules.get(getattr(entry.info.module, "__module__", ""), None)
    fn = getattr(module, name, None)
    return fn if callable(fn) else None


def _lyapunov_part(entry, config, dtype, params, key, scale):
    """Lyapunov exponents, zero directions and the `HOOKS` of one seed at one input scale."""
    lyap = config.lyapunov
    xs, x_long, _ = draw_inputs(entry, config, key, sequence_length(config), dtype)
    out = {}
    stats = lyapunov.lyapunov_statistics(
        entry.model, params, scale * x_long, num_exponents=lyap.num_exponents, burn_in=lyapunov_burn_in(config)
    )
    if stats is not None:
        out["lyapunov"] = stats["exponents"]
        out["lyapunov_zero_directions"] = stats["zero_directions"]
    if (bound := hook(entry, "state_jacobian_bound")) is not None:
        out["log_bound"] = jnp.log(bound(entry.model, params, entry.site))
    if (ratio := hook(entry, "state_variance_ratio")) is not None:
        out["variance_ratio"] = ratio(entry.model, params, scale * xs)
    return out


def seed_experiment_lengths(config, T: int) -> tuple[int, ...]:
    """The lengths of the seed's experiment in the condition of length T: ``config.seed_experiment.lengths``
    up to T (the snippet's 10, 50, 100, 200) and T itself."""
    return tuple(sorted({int(n) for n in config.seed_experiment.lengths if n <= T} | {int(T)}))


def _seed_experiment_part(entry, config, dtype, params, key, scale):
    """The seed's experiment (`attribution.seed_experiment`) on the seed's first input at one input scale,
    for every T of the grid (``"T{T}/..."``): ‖∂L/∂W‖ at `seed_experiment_lengths` and the decomposition
    by distance of the loss at T, from the zero state as the snippet runs it. A model without a one-pass
    state site (`attribution.state_site`) takes it by its definition, T + len(lengths) truncated gradients
    of T steps (O(T²)): only up to ``config.seed_experiment.max_length_by_definition``."""
    xs, _, target = draw_inputs(entry, config, key, sequence_length(config), dtype)
    batch = config.seed_experiment.decomposition_batch or None
    out = {}
    one_pass = attribution.state_site(entry.model) is not None
    for T in lengths_of(config):
        if not one_pass and T > int(config.seed_experiment.max_length_by_definition):
            continue  # T + len(lengths) truncated gradients of T steps each: O(T²), not measured at this T
        by_length, contributions = attribution.seed_experiment(
            entry.model, params, scale * xs[0, :T], target, entry.info.recurrent_params,
            seed_experiment_lengths(config, T), batch_size=batch)
        out.update({f"T{T}/gradient_vs_length": by_length,
                    f"T{T}/contribution_norm": attribution.contribution_norms(contributions),
                    f"T{T}/gradient_norm": attribution.gradient_norm(jax.tree.map(lambda g: g.sum(0), contributions))})
    return out


def _over_all(f):
    """``f(seed_params, key, scale) -> tree`` to ``(params [S, ...], keys [S], scales [C]) -> [C, S, ...]``
    (seeds and scales vmapped)."""

    def over(params, keys, scales):
        return jax.vmap(jax.vmap(f, in_axes=(0, 0, None)), in_axes=(None, None, 0))(params, keys, scales)

    return over


def _batched(fn, stack, lead: int):
    """``fn`` over the leading ``lead`` axes of ``stack`` (vmapped)."""
    for _ in range(lead):
        fn = jax.vmap(fn)
    return fn(stack)


def _profiles_part(entry, config, dtype, params, keys, scales):
    """Sketch profiles, or the exact stacks (``"stack/T{T}"``, ``[C, S, I, T, n, n]``, for `spectra_fn`) and
    their `_reductions`."""
    if entry.method == "sketch":  # no [T, n, n] stack (`sketch_summaries`)
        return sketch_summaries(entry, config, dtype, params, keys, scales)
    out = {}
    for T, J in _stacks(entry, config, dtype, params, keys, scales).items():
        out[f"stack/T{T}"] = J
        out.update({f"T{T}/{k}": v for k, v in _batched(lambda j: _reductions(entry, j), J, 3).items()})
    return out


def spectra_fn():
    """``{"stack/T{T}": [..., T, n, n]} -> {"T{T}/quantity": ...}``: `spectra.summarize` of every stack, jitted.

    A program of its own, holding the batched SVD and nothing else: on CPU, XLA's thread
    pool hung when the SVD ran beside other work of the same program (an ∞-norm reduction
    of the stacks: 4 of 5 runs of ``dilated_conv_L4`` and a coRNN run hung), and a LAPACK
    call inside a loop body can deadlock it too. It depends only on the stacks' shapes,
    so entries with the same site width and lengths share it.
    """

    def summarize(stacks):
        out = {}
        for name, J in stacks.items():
            T = name.split("/T")[-1]
            out.update({f"T{T}/{k}": v for k, v in _batched(spectra.summarize, J, 3).items()})
        return out

    return jax.jit(summarize)


# The programs of one entry's measurement, each ``(params [S, ...], keys [S], scales [C]) -> {quantity: [C, S, ...]}``.
PARTS = ("profiles", "lyapunov", "seed_experiment")


def part_fns(entry, config, dtype) -> dict:
    """``{part: jitted program}`` of `PARTS` (``seed_experiment`` only where the model has recurrent weights).

    Separate programs so that each may be compiled with its own options
    (`seqgrad.gradflow.analysis.part_options`) and shared by entries that lower to the same one.
    """
    fns = {"profiles": lambda p, k, s: _profiles_part(entry, config, dtype, p, k, s),
           "lyapunov": _over_all(lambda p, k, s: _lyapunov_part(entry, config, dtype, p, k, s))}
    if entry.info.recurrent_params:
        fns["seed_experiment"] = _over_all(lambda p, k, s: _seed_experiment_part(entry, config, dtype, p, k, s))
    return {name: jax.jit(fn) for name, fn in fns.items()}


class Measurement:
    """``(keys [S], scales [C]) -> {quantity: [C, S, ...]}``: the parameters of every seed (`params_fn`),
    then every program of ``parts`` on them (jitted functions or compiled executables), then ``spectra``
    (`spectra_fn`) on the stacks the parts returned (``"stack/..."`` keys, dropped from the result)."""

    def __init__(self, init, parts: dict, spectra=None, lengths=()):
        self.init, self.parts, self.spectra, self.lengths = init, dict(parts), spectra, tuple(lengths)

    def __call__(self, keys, scales):
        params = self.init(keys)
        out = {}
        for fn in self.parts.values():
            out.update(fn(params, keys, scales))
        stacks = {k: out.pop(k) for k in [k for k in out if isinstance(k, str) and k.startswith("stack/")]}
        if stacks:
            out.update(self.spectra(stacks))
        return expand_windows(out, self.lengths)


def measure_fn(entry, config, dtype) -> Measurement:
    """``(keys [S], scales [C]) -> {quantity: [C, S, ...]}``: every quantity of the module docstring."""
    return Measurement(params_fn(entry, config, dtype), part_fns(entry, config, dtype), spectra_fn(),
                       lengths_of(config))


def peak_scaled(stack):
    """``[..., M, N] -> (stack / peak as float32, peak [...])`` with ``peak = max_ij |J_ij|`` of each matrix.

    The scaled matrix has entries in [-1, 1], so a float64 Jacobian far below float32's
    range (‖J‖ ~ 1e-60) keeps float32's relative precision: ``‖J‖₂ = peak·‖J/peak‖₂``.
    """
    peak = jnp.max(jnp.abs(stack), axis=(-2, -1))
    scaled = stack / jnp.where(peak > 0, peak, 1.0)[..., None, None]
    return scaled.astype(jnp.float32), peak


def top_singular_fn():
    """``{"stack/T{T}": [..., n, n]} -> {"stack/T{T}": σ₁ [...]}``: the largest singular value of every
    matrix, jitted; a program holding the batched SVD and nothing else (see `spectra_fn`)."""
    return jax.jit(lambda stacks: {k: jnp.linalg.svd(v, compute_uv=False)[..., 0] for k, v in stacks.items()})


class Recheck:
    """``(keys [S], scales [C]) -> {T: float64 spectral norms [C, S, I, T] by distance}``: the float64 recheck.

    ``init`` draws the parameters, ``stacks`` (matmuls and reductions only) takes the float64
    Jacobian stacks of every suspect length and returns them by distance as `peak_scaled`
    float32 matrices with their float64 peaks, and ``top`` (`top_singular_fn`, LAPACK only)
    takes their largest singular values: ``‖J(d)‖₂ = peak·σ₁(J(d)/peak)``, to float32's
    relative precision (a float32 SVD is accurate to ~1e-7 of σ₁) at any float64 magnitude.
    Measured on ``lstm_state`` at T = 512 (45 sequences): 6.3 s against 17.6 s for the
    repeated squaring it replaces (`spectra.spectral_norm_by_squaring`), relative difference 6e-7.
    """

    def __init__(self, init, stacks, top, lengths=()):
        self.init, self.stacks, self.top, self.lengths = init, stacks, top, tuple(lengths)

    def __call__(self, keys, scales) -> dict:
        out = self.stacks(self.init(keys), keys, scales)
        tops = self.top({k: v for k, v in out.items() if k.startswith("stack/")})
        norms = {f"T{k.split('/T')[-1]}/norm": np.asarray(v, np.float64) * np.asarray(out["peak/" + k.split("/")[-1]])
                 for k, v in tops.items()}
        norms = expand_windows(norms, self.lengths)
        return {int(T): norms[f"T{T}/norm"] for T in self.lengths or [int(k.split("/")[0][1:]) for k in norms]}


def norms_fn(entry, config, dtype, lengths=None) -> Recheck:
    """The float64 recheck of float32 zeros (`Recheck`, jitted) for every T of ``lengths``
    (default: the default T only), measured in ``dtype``."""
    lengths = tuple(sorted(set(lengths or (config.T,))))

    def stacks(params, keys, scales):
        out = {}
        for T, J in _stacks(entry, config, dtype, params, keys, scales, lengths).items():
            out[f"stack/T{T}"], out[f"peak/T{T}"] = peak_scaled(J[:, :, :, ::-1])  # [C, S, I, T, n, n] by distance
        return out

    return Recheck(params_fn(entry, config, dtype), jax.jit(stacks), top_singular_fn(), lengths)


def sketch_summaries(entry, config, dtype, params, keys, scales) -> dict:
    """The profiles of ``method="sketch"`` without any ``[T, n, n]`` stack: ``{"T{T}/quantity": [C, S, I, ...]}``.

    Per sequence and length T, `seqgrad.gradflow.profile`'s reverse passes through the
    perturbation site give ``‖J(d)‖_F`` for every d: from ``config.sketch.num_probes`` = k
    random orthonormal probes (orthogonal Hutchinson, unbiased for ``‖J(d)‖_F²``; exact when
    k >= n), or exactly from the n basis cotangents when ``config.sketch.num_singular`` = r > 0,
    which also give the r largest singular values at `profile.default_distances` (NaN at other
    distances). The profile every summary reads (``spectral_norm``) is then ``‖J(d)‖_F``,
    recorded as ``profile_norm = "frobenius"``: ``‖J‖₂ ≤ ‖J‖_F ≤ √n·‖J‖₂``, so ratios to
    ``‖J(1)‖`` and decay rates differ from the spectral ones by at most ``ln √n`` in total.
    The probes' QR and the SVDs run outside the sequence loop (see `_stacks`).
    """
    sk = config.sketch
    lengths, L, B = computed_lengths(config, lengths_of(config)), sequence_length(config), burn_in(config)
    r = int(sk.num_singular)
    remat = int(sk.remat_block) or None
    n = profile.site_width(entry.model, entry.site)
    k = n if r else min(int(sk.num_probes), n)
    S, I = keys.shape[0], config.num_inputs
    probe_keys = jax.random.split(jax.random.fold_in(jax.random.key(config.seed), 7), scales.shape[0] * S * I)
    gauss = jax.vmap(lambda key: jax.random.normal(key, (n, k), dtype))(probe_keys)
    probes = jnp.swapaxes(jnp.linalg.qr(gauss)[0], -1, -2).reshape(scales.shape[0], S, I, k, n)
    if r or k == n:
        probes = jnp.broadcast_to(jnp.eye(n, dtype=dtype), probes.shape)
    out = {}
    for T in lengths:
        d = profile.default_distances(T) if r else np.zeros((0,), int)
        end = L if B else T  # after a burn-in the window is the last T of L steps
        positions = jnp.asarray(end - 1 - d, jnp.int32)

        def one_seed(seed_params, key, scale, q_seed):
            xs = draw_inputs(entry, config, key, L, dtype)[0]

            def one(args):
                x, q = args
                res = profile._adjoints(entry.model, seed_params, scale * x[:end], q, positions if r else None,
                                        entry.site, None, remat)
                return res if r else (res, jnp.zeros((k, 0, n), dtype))

            return jax.lax.map(one, (xs, q_seed))

        sq, rows = jax.lax.map(
            lambda sq_: jax.lax.map(lambda pkq: one_seed(pkq[0], pkq[1], sq_[0], pkq[2]), (params, keys, sq_[1])),
            (scales, probes))  # sq [C, S, I, k, T], rows [C, S, I, k, m, n]
        frob = jnp.sqrt((n / k) * jnp.sum(sq[..., end - T:], axis=-2))[..., ::-1]  # by distance d = T-1-t
        sv = jnp.full(frob.shape + (max(r, 1),), jnp.nan, dtype)[..., :r]
        if r:
            J = jnp.swapaxes(rows, -3, -2)  # [C, S, I, m, n, n]
            top = jnp.linalg.svd(J, compute_uv=False)[..., :r]
            sv = sv.at[..., jnp.asarray(d), :].set(top)
        out.update({f"T{T}/spectral_norm": frob, f"T{T}/frobenius_norm": frob,
                    f"T{T}/condition_number": jnp.full_like(frob, jnp.nan), f"T{T}/singular_values": sv})
    return out
