"""The one shared recurrence: a pure cell step run over time with `jax.lax.scan`.

Every recurrent architecture in seqgrad is written as a *step* on a carry, a dict
of arrays such as ``{"h": [B, H]}`` or ``{"h": [B, H], "c": [B, H]}``:

    carry_t = step(carry_{t-1}, input_t)

and this module runs it over time. It is also where the gradient-flow
perturbation enters: after every step a perturbation ``δ_t`` is added to one
entry of the carry (the *site*),

    carry_t[site] <- carry_t[site] + δ_t,

before the carry is emitted and handed to the next step. With ``δ = 0`` the
output is unchanged, and ``∂ carry_{T-1}[site] / ∂ δ_t`` is exactly
``∂ h_{T-1} / ∂ h_t`` along every path of the recurrence, which is what
`seqgrad.gradflow.state_jacobians` differentiates. No model has to know about
it: a model only names its carry entries.

Linear recurrences ``s_t = a_t ⊙ s_{t-1} + b_t`` (LRU, minGRU) run with
`linear_recurrence`, a `jax.lax.associative_scan`; adding ``δ_t`` after the
step is the same as adding it to ``b_t``.

Lyapunov exponents travel with the perturbation, never through module state.
`seqgrad.models.base.RecurrentModel` called with ``lyapunov=LyapunovSpec(k, ...)``
wraps the top layer's perturbation in a `tangent_frame.Tracked`; the `scan` (or
`linear_recurrence`) that receives it carries k tangent vectors through its step
(`seqgrad.models.tangent_frame`), and the model returns the resulting
`LyapunovStats` in the flax collection ``"lyapunov"``:

    _, state = model.apply(params, x, return_probe=True,
                           lyapunov=LyapunovSpec(8, burn_in=100), mutable=["lyapunov"])
    stats = state["lyapunov"]["stats"]        # LyapunovStats; stats.exponents: [8]

Being an output, this works the same eagerly, under `jax.jit` (cached calls too)
and under `jax.vmap` over parameter sets. Direct use without a model:
``scan(..., lyapunov=spec)`` adds ``out["lyapunov"]`` and
``linear_recurrence(..., lyapunov=spec)`` returns ``(s, stats)``.

The pattern a layer follows (``layer(x [B, T, D], perturbation [B, T, ...] | None,
site=..., truncate=None) -> (h, probe)``), which gives it gradient-flow
perturbations, truncated BPTT and Lyapunov exponents with no further code:

* step-wise: hand the batch-major ``perturbation`` to `scan_layer` (or, time-major,
  ``scan(..., perturbation=time_major(perturbation))``), never add it by hand:

      out = recurrence.scan_layer(step, carry, inputs, perturbation=perturbation,
                                  site="h", truncate=truncate, unroll=self.unroll)
      return out["h"], out["h"]

* linear ``s_t = a_t ⊙ s_{t-1} + b_t``: pass it to `linear_recurrence`, which adds it
  to ``b`` (for complex ``b`` in the real view ``[Re, Im]`` on the last axis):

      s = recurrence.linear_layer(a, b, perturbation=perturbation, truncate=truncate)  # [B, T, ...]

  (or, time-major, ``linear_recurrence(a, b, perturbation=time_major(perturbation),
  truncate=truncate)``)

* the model: declare the options once in a flax Module (``class MOptions(nn.Module)``
  with ``hidden_size`` and the options), then ``class MLayer(MOptions)`` (the layer's
  ``__call__``) and ``class M(RecurrentModel, MOptions)`` with ``layer = MLayer``;
  `RecurrentModel` stacks the layers, hands the perturbation (tracked when Lyapunov
  exponents are requested) to the top layer and sows the statistics.

A layer may transform the perturbation with `jax.tree.map` (it maps the wrapped
array). Adding a Lyapunov-tracked perturbation by hand (``b + delta``) raises a
`TypeError` that points here. The recorded recurrence is the one the top layer's
perturbation enters: the state at the perturbation site's layer.

Rematerialisation travels the same way. ``scan(..., remat_block=B)`` runs the
recurrence as an outer scan over ``⌈T/B⌉`` blocks of B steps whose body is
`jax.checkpoint`-ed: reverse mode then stores the carry at every block boundary
plus the residuals of one block at a time (recomputed from its boundary carry),
``O(T/B + B)`` carries instead of ``O(T)`` step residuals, for one extra forward
pass. The values and gradients are those of the plain scan. A model is asked for it
by wrapping its perturbation, ``Remat(delta, B)`` (batch-major, as the model
receives it); `scan_layer` and `scan` unwrap it, `linear_recurrence` ignores the
block (an associative scan has no sequential chain of residuals to cut).
`seqgrad.gradflow.jacobian_profile` uses this for its ``remat_block`` option.

Squared norms of the site's adjoint. In place of a perturbation, a step-wise scan
also takes ``SquaredNorms(s)`` (``s: [B, T]``, zeros): the carry is left as it is
(``carry_t[site] + 0·s_t``, an identity with a custom VJP), and the cotangent of
``s_t`` is ``‖g_t‖²``, ``g_t = ∂L/∂carry_t[site]`` the site's adjoint, which is
the adjoint of a perturbation ``δ_t``. A reverse pass of a ``[T, n]`` perturbation
materialises every ``g_t``; one of ``s`` returns only ``[T]`` numbers, which is all
a Frobenius norm needs (`seqgrad.gradflow.jacobian_profile`). It may be wrapped
in `Remat`. `linear_recurrence`, and any arithmetic on it, raise
`SquaredNormsUnsupported` (a `TypeError`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from seqgrad.models import tangent_frame
from seqgrad.models.tangent_frame import LyapunovSpec, LyapunovStats

Array = jax.Array
Carry = dict[str, Array]
Step = Callable[[Carry, Any], Carry]

# Key of the Lyapunov statistics in the outputs of `scan` and in the model's flax collection.
LYAPUNOV = "lyapunov"

__all__ = ["LYAPUNOV", "LyapunovSpec", "LyapunovStats", "Remat", "SquaredNorms", "SquaredNormsUnsupported",
           "Window", "WindowUnsupported",
           "batch_major", "linear_layer", "linear_recurrence", "scan",
           "scan_layer", "time_major", "truncate_inputs"]


@jax.tree_util.register_pytree_node_class
class Remat:
    """A perturbation ``delta`` that also asks the scan it enters to rematerialise in blocks of ``block`` steps.

    ``block`` (an int >= 1) is static pytree data, so `jax.tree.map` maps ``delta``
    and keeps the request. Like a Lyapunov-tracked perturbation it is not an
    array: pass it as ``perturbation=`` to `scan`, `scan_layer` or `linear_recurrence`.
    """

    def __init__(self, delta: Any, block: int):
        self.delta, self.block = delta, block

    def tree_flatten(self):
        return (self.delta,), self.block

    @classmethod
    def tree_unflatten(cls, block, children):
        return cls(children[0], block)


class WindowUnsupported(TypeError):
    """A `Window` request reached code that only takes an array perturbation (not a step-wise `scan`)."""


@jax.tree_util.register_pytree_node_class
class Window:
    """A perturbation ``delta`` (``[B, W, ...]``) of the last W steps only, after ``lead`` steps run forward only.

    `scan` runs the first ``lead`` steps as a scan of their own, with no perturbation,
    then the last W steps with ``delta``: since nothing differentiated enters the lead,
    reverse mode never runs through it, so ``∂h_(L−1)/∂h_t`` for the last W steps of an
    L-step sequence costs W reverse steps per cotangent instead of L (a burn-in, or the
    singular values of the nearest distances of `seqgrad.gradflow.jacobian_profile`).
    ``lead`` is static pytree data; ``delta`` may wrap `Remat` or `SquaredNorms`. Only a
    step-wise `scan` takes it: arithmetic on it, or `linear_recurrence`, raise
    `WindowUnsupported` (the caller then pads ``delta`` with zeros instead).
    """

    def __init__(self, delta: Any, lead: int):
        self.delta, self.lead = delta, lead

    def tree_flatten(self):
        return (self.delta,), self.lead

    @classmethod
    def tree_unflatten(cls, lead, children):
        return cls(children[0], lead)

    def _refuse(self, *_):
        raise WindowUnsupported("a Window perturbation is not an array: only recurrence.scan takes it")

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __matmul__ = __rmatmul__ = _refuse
    __getitem__ = __array__ = _refuse


class SquaredNormsUnsupported(TypeError):
    """A `SquaredNorms` request reached code that only takes an array perturbation."""


@jax.tree_util.register_pytree_node_class
class SquaredNorms:
    """Asks a step-wise `scan` for ``‖∂L/∂carry_t[site]‖²`` as the cotangent of ``s`` (``[B, T]``, batch-major).

    Not an array: arithmetic on it raises `SquaredNormsUnsupported`, so a layer
    that transforms its perturbation by hand, or a linear recurrence, refuses it
    instead of computing something else. The pullback of ``s`` is quadratic in
    its cotangent (not a linear map): call it (vmap it), do not transpose or
    differentiate it further.
    """

    def __init__(self, s: Any):
        self.s = s

    def tree_flatten(self):
        return (self.s,), None

    @classmethod
    def tree_unflatten(cls, _, children):
        return cls(children[0])

    def _refuse(self, *_):
        raise SquaredNormsUnsupported("a SquaredNorms request is not an array: only recurrence.scan takes it")

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __matmul__ = __rmatmul__ = _refuse
    __getitem__ = __array__ = _refuse


@jax.custom_vjp
def _norm_tap(parts: tuple, s: Array) -> tuple:
    """Identity on ``parts`` (the site's carry entries, ``[B, n_i]`` each); ``s: [B]`` receives ``Σ_i ‖g_i‖²``."""
    del s
    return parts


def _norm_tap_fwd(parts, s):
    return parts, s


def _norm_tap_bwd(s, g):
    return g, sum(jnp.sum(gi * gi, axis=-1) for gi in g).astype(s.dtype)


_norm_tap.defvjp(_norm_tap_fwd, _norm_tap_bwd)


def _split_remat(perturbation: Any) -> tuple[Any, int | None]:
    """``perturbation -> (perturbation without the `Remat` wrapper, its block or None)`` (also inside `Tracked`)."""
    if isinstance(perturbation, Remat):
        return perturbation.delta, perturbation.block
    if isinstance(perturbation, tangent_frame.Tracked) and isinstance(perturbation.delta, Remat):
        inner = perturbation.delta
        return tangent_frame.Tracked(inner.delta, perturbation.request), inner.block
    return perturbation, None


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
    lyapunov: LyapunovSpec | None = None,
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
        the cotangent of ``s_t`` is the squared norm of the site's adjoint.
      site: the carry entry the perturbation enters, or a tuple of entries: then
        ``δ_t`` is their concatenation along the last axis, split among them.
      truncate: optional (possibly traced) int k: the carry entering step ``T - k``
        is wrapped in `jax.lax.stop_gradient`, so gradients of anything at steps
        ``>= T - k`` only flow through the last k steps (truncated BPTT). For a
        loss on the last step, ``∂L/∂θ`` then sums exactly the contributions of
        the last k steps, which is how `seqgrad.gradflow` decomposes a weight
        gradient by distance from the loss.
      unroll: `lax.scan` unroll factor.
      lyapunov: optional `LyapunovSpec`: also carry a tangent frame through the
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

    perturbation, block = _split_remat(perturbation)
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
            tapped = _norm_tap(tuple(carry[key] for key in keys), delta_t)
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


def truncate_inputs(a: Array, b: Array, truncate: int | Array | None) -> tuple[Array, Array]:
    """Truncated BPTT for `linear_recurrence`: stops gradients of ``a_t, b_t`` for ``t < T - k``.

    For ``s_t = a_t s_{t-1} + b_t`` this is exactly `scan`'s ``truncate``: the state
    entering step ``T - k`` becomes a constant, the last k steps stay differentiable.
    """
    if truncate is None:
        return a, b
    early = (jnp.arange(a.shape[0]) < a.shape[0] - truncate).reshape((-1,) + (1,) * (a.ndim - 1))
    stop = jax.lax.stop_gradient
    return jnp.where(early, stop(a), a), jnp.where(early, stop(b), b)


def linear_recurrence(
    a: Array,
    b: Array,
    initial: Array | None = None,
    *,
    perturbation: Any = None,
    truncate: int | Array | None = None,
    lyapunov: LyapunovSpec | None = None,
):
    """Solves ``s_t = a_t ⊙ s_{t-1} + b_t`` for all t with an associative scan.

    Args:
      a: ``[T, ...]`` multiplicative coefficients (real or complex), broadcastable to ``b``.
      b: ``[T, ...]`` additive inputs.
      initial: optional ``s_{-1}`` of shape ``b.shape[1:]`` (zero if omitted).
      perturbation: optional time-major ``δ`` added to ``b`` (the same as adding it
        to ``s_t`` after the step); for complex ``b`` its real view ``[Re, Im]`` on
        the last axis (twice as wide). May be a `tangent_frame.Tracked` one, or a
        `Remat` one (its block is ignored here).
      truncate: optional k, `truncate_inputs` applied after the perturbation is added
        (so, as in `scan`, perturbations before step ``T - k`` are cut off too).
      lyapunov: optional `LyapunovSpec`: also return the exponents of the recurrence.

    Returns:
      ``s``: ``[T, ...]``, or ``(s, LyapunovStats)`` when ``lyapunov`` is given.
      Cost O(T) work, O(log T) depth (Blelloch 1990).
    """
    if isinstance(perturbation, Window):
        raise WindowUnsupported("linear_recurrence takes an array perturbation, not a Window")
    delta, requested, request = tangent_frame.split(_split_remat(perturbation)[0])
    if isinstance(delta, SquaredNorms):
        raise SquaredNormsUnsupported("linear_recurrence takes an array perturbation, not SquaredNorms")
    if delta is not None:
        if jnp.iscomplexobj(b) and not jnp.iscomplexobj(delta):
            n = b.shape[-1]
            delta = jax.lax.complex(delta[..., :n], delta[..., n:])
        b = b + delta
    a, b = truncate_inputs(jnp.broadcast_to(a, b.shape), b, truncate)
    if initial is not None:
        b = b.at[0].add(a[0] * initial)
    spec = lyapunov or requested
    stats = None if spec is None else tangent_frame.diagonal(jnp.broadcast_to(a, b.shape), spec)
    if request is not None:
        request.deliver(stats)

    def combine(left, right):
        a_l, b_l = left
        a_r, b_r = right
        return a_r * a_l, a_r * b_l + b_r

    _, s = jax.lax.associative_scan(combine, (a, b), axis=0)
    return s if lyapunov is None else (s, stats)


def linear_layer(a: Array, b: Array, *, perturbation: Any = None, truncate: int | Array | None = None) -> Array:
    """`linear_recurrence` as a layer calls it: time-major ``a, b``, the layer's batch-major perturbation.

    Returns:
      ``s``: ``[B, T, ...]`` (batch-major).
    """
    delta = None if perturbation is None else time_major(perturbation)
    return batch_major(linear_recurrence(a, b, perturbation=delta, truncate=truncate))


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
