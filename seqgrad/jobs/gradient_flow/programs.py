"""Step 3 of the main job: the programs that measure one entry, each ``(params [S, ...], keys [S], scales [C])
-> {quantity: [C, S, ...]}`` over every condition at once.

For every input scale s, seed (initialisation) and input sequence i (``config.num_inputs``
per seed), with ``x = s·z``, ``z ~ N(0, 1)^{L×D}``, ``L = burn_in + max(conditions.T)``:

* ``profiles``: the state Jacobians ``∂h_{L-1}/∂h_{L-1-d}`` of the window after the burn-in
  (`seqgrad.gradflow.windows`; from the zero state when ``config.burn_in = 0``) and their
  singular values, norms and condition numbers (``"T{T}/spectral_norm"`` etc.,
  ``[C, S, I, T, ...]``), the ∞-norms where the architecture has a ``state_jacobian_bound``
  (the fields ``state_jacobian_bound`` and ``state_variance_ratio`` of its registry record), the spectral norm of every clockwork module's
  diagonal block (``[C, S, I, T, G]``); or, for ``method="sketch"``, `sketch.summaries`;
* ``lyapunov``: the exponents over ``config.lyapunov.T`` steps (``[C, S, k]``), the exactly-zero
  tangent directions met (``[C, S]``), and the architecture's hooks (``"log_bound"``, ln ρ of a
  proven bound; ``"variance_ratio"``, ``Var(h_t)/[(1 − ∏_{s≤t} a_s²)·Var(i_t ⊙ u_t)]``);
* ``seed_experiment``: the page's snippet experiment on the first input (the output key
  keeps the name ``seed_experiment``).

Input scale, seeds, inputs and lengths are values, never a recompilation: `inputs.params_fn`
draws every seed's parameters and the parts take them as an argument, so entries that differ
only in their initialisation lower to the same programs (`compilation.ProgramCache`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from seqgrad.gradflow import attribution, lyapunov, spectra
from seqgrad.gradflow.windows import jacobians_by_length, module_blocks, window_jacobians
from seqgrad.jobs.gradient_flow import sketch
from seqgrad.jobs.gradient_flow.config import Windows, windows
from seqgrad.jobs.gradient_flow.inputs import data_fn, params_fn


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


def _stacks(entry, config, w: Windows, params, xs, scales, lengths=None):
    """``{W: [C, S, I, W, n, n]}`` Jacobian stacks of every (scale, seed, input) sequence ``xs [S, I, L, D]``,
    for every window W of ``w.computed`` (or ``w.computed_for(lengths)``; time order: ``[..., W − 1 − d, :, :]``
    is J(d)).

    Each input is ``B + max(conditions.T)`` steps long (``w.sequence_length``); after a burn-in of
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
    lengths = w.computed_for(lengths) if lengths else w.computed
    C, S, I = scales.shape[0], xs.shape[0], int(config.num_inputs)
    B = w.burn_in
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


def _reductions(entry, J):
    """What a stack ``[T, n, n]`` gives without LAPACK: ``inf_norm`` ``[T]`` (by distance) where the
    architecture has a ``state_jacobian_bound``, and the clockwork module norms ``[T, G]``
    (`spectra.spectral_norm_by_squaring` of every module's diagonal block)."""
    out = {}
    if entry.info.state_jacobian_bound is not None:
        out["inf_norm"] = spectra.inf_norm(spectra.by_distance(J))
    if entry.modules:
        out["module_norm"] = spectra.spectral_norm_by_squaring(spectra.by_distance(module_blocks(J, entry.modules)))
    return out


def _lyapunov_part(entry, config, w: Windows, params, data, scale):
    """Lyapunov exponents, zero directions and the architecture's hooks of one seed (its ``data``) at one
    input scale."""
    xs, x_long = data["xs"], data["x_long"]
    out = {}
    stats = lyapunov.lyapunov_statistics(
        entry.model, params, scale * x_long, num_exponents=config.lyapunov.num_exponents, burn_in=w.lyapunov_burn_in
    )
    if stats is not None:
        out["lyapunov"] = stats["exponents"]
        out["lyapunov_zero_directions"] = stats["zero_directions"]
    if (bound := entry.info.state_jacobian_bound) is not None:
        out["log_bound"] = jnp.log(bound(entry.model, params, entry.site))
    if (ratio := entry.info.state_variance_ratio) is not None:
        out["variance_ratio"] = ratio(entry.model, params, scale * xs)
    return out


def _snippet_part(entry, config, w: Windows, params, data, scale):
    """The page's experiment (`attribution.snippet_experiment`) on the seed's first input at one input scale,
    for every T of the grid (``"T{T}/..."``): ‖∂L/∂W‖ at `snippet_lengths` and the decomposition
    by distance of the loss at T, from the zero state as the snippet runs it. A model without a one-pass
    state site (`attribution.state_site`) takes it by its definition, T + len(lengths) truncated gradients
    of T steps (O(T²)): only up to ``config.seed_experiment.max_length_by_definition``."""
    xs, target = data["xs"], data["target"]
    batch = config.seed_experiment.decomposition_batch or None
    out = {}
    one_pass = attribution.state_site(entry.model) is not None
    for T in w.lengths:
        if not one_pass and T > int(config.seed_experiment.max_length_by_definition):
            continue  # T + len(lengths) truncated gradients of T steps each: O(T²), not measured at this T
        by_length, contributions = attribution.snippet_experiment(
            entry.model, params, scale * xs[0, :T], target, entry.info.recurrent_params,
            w.snippet[T], batch_size=batch)
        out.update({f"T{T}/gradient_vs_length": by_length,
                    f"T{T}/contribution_norm": attribution.contribution_norms(contributions),
                    f"T{T}/gradient_norm": attribution.gradient_norm(jax.tree.map(lambda g: g.sum(0), contributions))})
    return out


def _over_all(f):
    """``f(seed_params, seed_data, scale) -> tree`` to ``(params [S, ...], data [S, ...], scales [C]) -> [C, S, ...]``
    (seeds and scales vmapped)."""

    def over(params, data, scales):
        return jax.vmap(jax.vmap(f, in_axes=(0, 0, None)), in_axes=(None, None, 0))(params, data, scales)

    return over


def _batched(fn, stack, lead: int):
    """``fn`` over the leading ``lead`` axes of ``stack`` (vmapped)."""
    for _ in range(lead):
        fn = jax.vmap(fn)
    return fn(stack)


def _profiles_part(entry, config, w: Windows, dtype, params, data, scales):
    """Sketch profiles, or the exact stacks (``"stack/T{T}"``, ``[C, S, I, T, n, n]``, for `spectra_fn`) and
    their `_reductions`."""
    if entry.method == "sketch":  # no [T, n, n] stack (`sketch.sketch_summaries`)
        return sketch.sketch_summaries(entry, config, w, dtype, params, data["xs"], scales)
    out = {}
    for T, J in _stacks(entry, config, w, params, data["xs"], scales).items():
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


# The programs of one entry's measurement, each ``(params [S, ...], data [S, ...], scales [C]) -> {quantity: [C, S, ...]}``.
PARTS = ("profiles", "lyapunov", "seed_experiment")


def part_fns(entry, config, dtype, w: Windows) -> dict:
    """``{part: jitted program}`` of `PARTS` (``seed_experiment`` only where the model has recurrent weights),
    for the windows ``w``.

    Separate programs so that each may be compiled with its own options
    (`seqgrad.jobs.gradient_flow.compilation.options`) and shared by entries that lower to the same one.
    """
    fns = {"profiles": lambda p, d, s: _profiles_part(entry, config, w, dtype, p, d, s),
           "lyapunov": _over_all(lambda p, d, s: _lyapunov_part(entry, config, w, p, d, s))}
    if entry.info.recurrent_params:
        fns["seed_experiment"] = _over_all(lambda p, d, s: _snippet_part(entry, config, w, p, d, s))
    return {name: jax.jit(fn) for name, fn in fns.items()}


class Measurement:
    """``(keys [S], scales [C]) -> {quantity: [C, S, ...]}``: the parameters (`params_fn`) and inputs
    (`inputs.data_fn`) of every seed, then every program of ``parts`` on them (jitted functions or compiled
    executables), then ``spectra`` (`spectra_fn`) on the stacks the parts returned (``"stack/..."`` keys,
    dropped from the result)."""

    def __init__(self, init, draw, parts: dict, spectra=None, windows: Windows | None = None):
        self.init, self.draw, self.parts, self.spectra, self.windows = init, draw, dict(parts), spectra, windows
        self.lengths = () if windows is None else windows.lengths

    def __call__(self, keys, scales):
        return self.run(self.init(keys), self.draw(keys), scales)

    def run(self, params, data, scales):
        """The parts and the spectra on given parameters and inputs (from ``init`` and ``draw``)."""
        out = {}
        for fn in self.parts.values():
            out.update(fn(params, data, scales))
        stacks = {k: out.pop(k) for k in [k for k in out if isinstance(k, str) and k.startswith("stack/")]}
        if stacks:
            out.update(self.spectra(stacks))
        return expand_windows(out, self.lengths)


def measure_fn(entry, config, dtype) -> Measurement:
    """``(keys [S], scales [C]) -> {quantity: [C, S, ...]}``: every quantity of the module docstring."""
    w = windows(config)
    return Measurement(params_fn(entry, config, dtype), data_fn(entry, config, dtype, w.sequence_length),
                       part_fns(entry, config, dtype, w), spectra_fn(), w)


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
    """``(params, xs [S, I, L, D], scales [C]) -> {T: float64 spectral norms [C, S, I, T] by distance}``: the
    float64 recheck, on the parameters and inputs of the float32 measurement cast to float64 (both are drawn
    in float32 and cast, so they are the same model and inputs).

    ``stacks`` (matmuls and reductions only) takes the float64 Jacobian stacks of every suspect length and returns them by distance as `peak_scaled`
    float32 matrices with their float64 peaks, and ``top`` (`top_singular_fn`, LAPACK only)
    takes their largest singular values: ``‖J(d)‖₂ = peak·σ₁(J(d)/peak)``, to float32's
    relative precision (a float32 SVD is accurate to ~1e-7 of σ₁) at any float64 magnitude.
    Measured on ``lstm_state`` at T = 512 (45 sequences): 6.3 s against 17.6 s for the
    repeated squaring it replaces (`spectra.spectral_norm_by_squaring`), relative difference 6e-7.
    """

    def __init__(self, stacks, top, lengths=()):
        self.stacks, self.top, self.lengths = stacks, top, tuple(lengths)

    def __call__(self, params, xs, scales) -> dict:
        out = self.stacks(params, xs, scales)
        tops = self.top({k: v for k, v in out.items() if k.startswith("stack/")})
        norms = {f"T{k.split('/T')[-1]}/norm": np.asarray(v, np.float64) * np.asarray(out["peak/" + k.split("/")[-1]])
                 for k, v in tops.items()}
        norms = expand_windows(norms, self.lengths)
        return {int(T): norms[f"T{T}/norm"] for T in self.lengths or [int(k.split("/")[0][1:]) for k in norms]}


def norms_fn(entry, config, dtype, lengths, w: Windows) -> Recheck:
    """The float64 recheck of float32 zeros (`Recheck`, jitted) for every T of ``lengths`` (empty: the default
    T only) with the windows ``w``, measured in ``dtype``."""
    lengths = tuple(sorted(set(lengths or (config.T,))))

    def stacks(params, xs, scales):
        out = {}
        for T, J in _stacks(entry, config, w, params, xs, scales, lengths).items():
            out[f"stack/T{T}"], out[f"peak/T{T}"] = peak_scaled(J[:, :, :, ::-1])  # [C, S, I, T, n, n] by distance
        return out

    return Recheck(jax.jit(stacks), top_singular_fn(), lengths)
