"""The shared step-wise recurrence: a pure cell step run over time with `jax.lax.scan`, and the perturbation site.

A recurrent layer is a *step* on a carry, a dict of ``[B, ...]`` arrays such as
``{"h": [B, H]}`` or ``{"h": [B, H], "c": [B, H]}``, that `scan` runs over time:

    carry_t = step(carry_{t-1}, input_t),    carry_t[site] <- carry_t[site] + δ_t.

The perturbation ``δ_t`` enters one entry (the *site*) after every step, before the
carry is emitted and handed on. With ``δ = 0`` nothing changes, and
``∂carry_{T-1}[site]/∂δ_t`` is ``∂h_{T-1}/∂h_t`` along every path of the recurrence
(`seqgrad.gradflow.state_jacobians`): a model only names its carry entries.

A layer ``(x [B, T, D], perturbation [B, T, ...] | None, site, truncate) -> (h, probe)``
hands its perturbation to `scan_layer` (time-major: ``scan(..., perturbation=time_major(δ))``)
and gets truncated BPTT, Lyapunov exponents and the requests of `seqgrad.models.perturbation`
with no further code (a linear recurrence: `seqgrad.models.linear_scan`; a whole model:
docs/own_architecture.md):

    out = recurrence.scan_layer(step, carry, inputs, perturbation=perturbation,
                                site="h", truncate=truncate, unroll=self.unroll)
    return out["h"], out["h"]

(`hidden_layer` is that call for a carry that is the hidden state alone, from zero.)

A layer may transform the perturbation with `jax.tree.map` (it maps the wrapped array);
adding a Lyapunov-tracked one by hand (``b + delta``) raises a `TypeError` that points
here. Lyapunov exponents travel with the perturbation: `RecurrentModel` called with
``lyapunov=LyapunovSpec(k, ...)`` wraps the top layer's in a `tangent_frame.Tracked`, the
scan it reaches carries k tangent vectors, and the model returns `LyapunovStats` in the
flax collection ``"lyapunov"`` (`LYAPUNOV`), eagerly, under `jax.jit` and `jax.vmap` alike:

    _, state = model.apply(params, x, return_probe=True,
                           lyapunov=LyapunovSpec(8, burn_in=100), mutable=["lyapunov"])
    stats = state["lyapunov"]["stats"]        # LyapunovStats; stats.exponents: [8]

Directly: ``scan(..., lyapunov=spec)`` adds ``out["lyapunov"]``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from seqgrad.models import tangent_frame
from seqgrad.models.perturbation import Remat, SquaredNorms, Window, WindowUnsupported, norm_tap, split_remat

Array = jax.Array
Carry = dict[str, Array]
Step = Callable[[Carry, Any], Carry]

# Key of the Lyapunov statistics in the outputs of `scan` and in the model's flax collection.
LYAPUNOV = "lyapunov"

__all__ = ["LYAPUNOV", "batch_major", "hidden_layer", "scan", "scan_layer", "time_major"]


def scan(
    step: Step,
    carry: Carry,
    inputs: Any,
    *,
    emit: Sequence[str] = ("h",),
    perturbation: Array | None = None,
    site: str | tuple[str, ...] = "h",
    truncate: int | Array | None = None,
    unroll: int = 1,
    lyapunov: tangent_frame.LyapunovSpec | None = None,
    remat_block: int | None = None,
) -> tuple[Carry, dict[str, Array]]:
    """Runs ``step`` over the time axis of ``inputs``.

    Args:
      step: pure function ``(carry, input_t) -> carry``.
      carry: the initial carry, a dict of ``[B, ...]`` arrays.
      inputs: pytree of time-major arrays ``[T, B, ...]``.
      emit: carry entries to stack over time and return.
      perturbation: optional ``[T, B, ...]`` added to ``carry[site]`` after each
        step (shape of ``carry[site]`` per step), or a `tangent_frame.Tracked` one
        (from `RecurrentModel`), whose Lyapunov request this scan then fulfils, or
        a `Remat` one (see ``remat_block``), or `SquaredNorms` (``s: [T, B]``): then
        the cotangent of ``s_t`` is the squared norm of the site's adjoint, or a
        `Window` one (the lead steps run forward only; no truncate, no lyapunov).
      site: the carry entry the perturbation enters, or a tuple of entries: then
        ``δ_t`` is their concatenation along the last axis, split among them.
      truncate: optional (possibly traced) int k: the carry entering step ``T - k``
        is wrapped in `jax.lax.stop_gradient`, so gradients of anything at steps
        ``>= T - k`` only flow through the last k steps (truncated BPTT). For a
        loss on the last step, ``∂L/∂θ`` then sums exactly the contributions of
        the last k steps, which is how `seqgrad.gradflow` decomposes a weight
        gradient by distance from the loss.
      unroll: `lax.scan` unroll factor.
      lyapunov: optional `tangent_frame.LyapunovSpec`: also carry a tangent frame through the
        step and return its `LyapunovStats` as ``out["lyapunov"]``.
      remat_block: optional B >= 1: run ``⌈T/B⌉`` `jax.checkpoint`-ed blocks of B
        steps (the last one shorter when B does not divide T), so reverse mode
        keeps ``⌈T/B⌉`` boundary carries plus one block's residuals; same values
        and gradients. A `Remat` perturbation sets it too. None (default): one scan.

    Returns:
      ``(final_carry, {name: [T, B, ...] for name in emit})``; emitted values are
      taken after the perturbation, so ``∂ emitted[site][T-1] / ∂ δ_{T-1} = I``.
    """
    for key in (site,) if isinstance(site, str) else site:
        if key not in carry:
            raise ValueError(f"perturbation site {key!r} is not a carry entry; valid sites: {sorted(carry)}")
    if isinstance(perturbation, Window):
        return _windowed_scan(step, carry, inputs, perturbation, emit=emit, site=site, truncate=truncate,
                              unroll=unroll, lyapunov=lyapunov, remat_block=remat_block)

    perturbation, block = split_remat(perturbation)
    remat_block = block if remat_block is None else remat_block
    if remat_block is not None and (isinstance(remat_block, bool) or not isinstance(remat_block, int)
                                    or remat_block < 1):
        raise ValueError(f"remat_block={remat_block!r} is invalid: it must be None or an integer >= 1")
    perturbation, requested, request = tangent_frame.split(perturbation)
    norms = isinstance(perturbation, SquaredNorms)
    if norms:
        perturbation = perturbation.s  # [T, B]
    spec = lyapunov or requested
    length = jax.tree.leaves(inputs)[0].shape[0]

    def body(state, scanned):
        carry, frame = state
        x_t, delta_t, t = scanned
        if truncate is not None:
            cut = t == length - truncate
            carry = jax.tree.map(lambda c: jnp.where(cut, jax.lax.stop_gradient(c), c), carry)
        if frame is None:
            carry = step(carry, x_t)
        else:
            carry, frame = advance(carry, x_t, frame)
        if norms:
            keys = (site,) if isinstance(site, str) else site
            tapped = norm_tap(tuple(carry[key] for key in keys), delta_t)
            carry = {**carry, **dict(zip(keys, tapped))}
        elif delta_t is not None:
            carry = _perturb(carry, site, delta_t)
        return (carry, frame), {name: carry[name] for name in emit}

    frame = None
    if spec is not None:
        advance = tangent_frame.advance(step, spec)
        frame = tangent_frame.initial_frame(carry, spec, length)
    steps = jnp.arange(length) if truncate is not None else None
    scanned = (inputs, perturbation, steps)
    if remat_block is None or remat_block >= length:
        (carry, frame), out = jax.lax.scan(body, (carry, frame), scanned, unroll=unroll)
    else:
        (carry, frame), out = _blocked_scan(body, (carry, frame), scanned, length, remat_block, unroll)
    if spec is not None:
        stats = tangent_frame.stats_of(frame)
        if request is not None:
            request.deliver(stats)
        if lyapunov is not None:
            out = {**out, LYAPUNOV: stats}
    return carry, out


def _windowed_scan(step, carry, inputs, window: Window, *, emit, site, truncate, unroll, lyapunov, remat_block):
    """`scan` of a `Window` perturbation: the lead steps forward only, then the window with ``window.delta``."""
    if truncate is not None or lyapunov is not None:
        raise WindowUnsupported("a Window perturbation takes no truncate and no Lyapunov request")
    lead = int(window.lead)
    head = jax.tree.map(lambda a: a[:lead], inputs)
    tail = jax.tree.map(lambda a: a[lead:], inputs)
    if lead:
        carry, early = scan(step, carry, head, emit=emit, site=site, unroll=unroll)
    carry, late = scan(step, carry, tail, emit=emit, perturbation=window.delta, site=site, unroll=unroll,
                       remat_block=remat_block)
    if not lead:
        return carry, late
    return carry, {name: jnp.concatenate([early[name], late[name]], axis=0) for name in emit}


def _blocked_scan(body, state, scanned, length: int, block: int, unroll: int):
    """`jax.lax.scan` of ``body`` as an outer scan over checkpointed blocks of ``block`` steps, then the tail.

    Same ``(final_state, stacked outputs [T, ...])`` as ``lax.scan(body, state,
    scanned)``; reverse mode saves the state entering every block and recomputes
    each block's step residuals when its turn comes.
    """
    whole, tail = divmod(length, block)

    @jax.checkpoint
    def run_block(state, xs):
        return jax.lax.scan(body, state, xs, unroll=unroll)

    head = jax.tree.map(lambda a: a[: whole * block].reshape(whole, block, *a.shape[1:]), scanned)
    state, out = jax.lax.scan(run_block, state, head)
    out = jax.tree.map(lambda a: a.reshape(whole * block, *a.shape[2:]), out)
    if tail:
        state, rest = run_block(state, jax.tree.map(lambda a: a[whole * block :], scanned))
        out = jax.tree.map(lambda a, b: jnp.concatenate([a, b], axis=0), out, rest)
    return state, out


def _perturb(carry: Carry, site: str | tuple[str, ...], delta: Array) -> Carry:
    """``carry`` with ``δ`` added at ``site`` (split along the last axis over a tuple of entries)."""
    if isinstance(site, str):
        return {**carry, site: carry[site] + delta}
    bounds = list(itertools.accumulate(carry[key].shape[-1] for key in site))[:-1]
    parts = jnp.split(delta, bounds, axis=-1)
    return {**carry, **{key: carry[key] + part for key, part in zip(site, parts)}}


def scan_layer(
    step: Step,
    carry: Carry,
    inputs: Any,
    *,
    perturbation: Any = None,
    site: str | tuple[str, ...] = "h",
    truncate: int | Array | None = None,
    unroll: int = 1,
    emit: Sequence[str] = ("h",),
) -> dict[str, Array]:
    """`scan` as a layer calls it: batch-major perturbation in, batch-major emitted sequences out.

    Args:
      step, carry, site, truncate, unroll, emit: as in `scan`.
      inputs: pytree of time-major ``[T, B, ...]`` arrays (e.g. ``time_major(x) @ U + b``).
      perturbation: the layer's ``[B, T, ...]`` perturbation (or None), as received.

    Returns:
      ``{name: [B, T, ...] for name in emit}``.
    """
    delta = None if perturbation is None else time_major(perturbation)
    _, out = scan(step, carry, inputs, emit=emit, perturbation=delta, site=site, truncate=truncate, unroll=unroll)
    return {name: batch_major(out[name]) for name in emit}


def hidden_layer(
    step: Step,
    inputs: Any,
    x: Array,
    hidden_size: int,
    *,
    perturbation: Any = None,
    truncate: int | Array | None = None,
    unroll: int = 1,
) -> tuple[Array, Array]:
    """`scan_layer` for the layer whose carry is its hidden state alone, ``{"h": [B, H]}`` starting at zero.

    Args:
      step: ``(carry {"h": [B, H]}, input_t) -> carry``.
      inputs: pytree of time-major ``[T, B, ...]`` arrays.
      x: the layer's input ``[B, T, D]`` (the zero state takes its batch size and dtype).
      hidden_size: ``H``.
      perturbation, truncate, unroll: as in `scan_layer`; the perturbation enters ``h``.

    Returns:
      ``(h, h)``, both ``[B, T, H]``: the layer's output and its probe, the state the perturbation enters.
    """
    carry = {"h": jnp.zeros((x.shape[0], hidden_size), x.dtype)}
    h = scan_layer(step, carry, inputs, perturbation=perturbation, site="h", truncate=truncate, unroll=unroll)["h"]
    return h, h


def time_major(x):
    """``[B, T, ...] -> [T, B, ...]`` (a `tangent_frame.Tracked` or `Remat` perturbation keeps its wrapper)."""
    if isinstance(x, tangent_frame.Tracked):
        return tangent_frame.Tracked(time_major(x.delta), x.request)
    if isinstance(x, Remat):
        return Remat(time_major(x.delta), x.block)
    if isinstance(x, SquaredNorms):
        return SquaredNorms(jnp.swapaxes(x.s, 0, 1))
    if isinstance(x, Window):
        return Window(time_major(x.delta), x.lead)
    return jnp.swapaxes(x, 0, 1)


def batch_major(x: Array) -> Array:
    """``[T, B, ...] -> [B, T, ...]``."""
    return jnp.swapaxes(x, 0, 1)
