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

Lyapunov exponents of the state recurrence are recorded here too, because the
step Jacobians only exist inside the recurrence: within
``with record_lyapunov(k) as rec:`` the perturbed `scan` (the top layer) carries
k tangent vectors through ``jax.linearize`` of its step and re-orthonormalises
them by QR every step (Benettin et al. 1980), and `linear_recurrence`, whose step
Jacobian is ``diag(a_t)``, sums ``log|a_t|``. Models need no change.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp

Array = jax.Array
Carry = dict[str, Array]
Step = Callable[[Carry, Any], Carry]


@dataclasses.dataclass
class LyapunovRecorder:
    """What `record_lyapunov` recorded: the Lyapunov exponents of the last recorded recurrence.

    Attributes:
      num_exponents: k, how many (largest) exponents to compute.
      burn_in: steps run before accumulating (the tangent frame aligns meanwhile).
      seed: seed of the random orthonormal initial tangent frame.
      log_growth: ``[k]`` sum over the recorded steps of ``log|diag R_t|`` (QR) or of
        ``log|a_t|`` (linear recurrence), or None when no recurrence ran.
      steps: number of accumulated steps.
      dimension: real dimension of the recorded state.
    """

    num_exponents: int
    burn_in: int = 0
    seed: int = 0
    log_growth: Array | None = None
    steps: int = 0
    dimension: int = 0

    @property
    def applicable(self) -> bool:
        """False when the model ran no recurrence (Transformer, dilated convolution)."""
        return self.log_growth is not None

    @property
    def exponents(self) -> Array:
        """``[k]`` exponents per step, ``λ_i = log_growth_i / steps``, sorted descending."""
        if self.log_growth is None:
            raise ValueError("no recurrence was recorded: Lyapunov exponents are not applicable")
        return -jnp.sort(-self.log_growth / self.steps)


_RECORDERS: list[LyapunovRecorder] = []


@contextlib.contextmanager
def record_lyapunov(num_exponents: int, *, burn_in: int = 0, seed: int = 0) -> Iterator[LyapunovRecorder]:
    """Records the k largest Lyapunov exponents of the recurrence run inside the block.

    The recorded recurrence is the last `scan` called with a perturbation (the top
    layer of a `RecurrentModel`, so call the model with a zero perturbation) or the
    last `linear_recurrence`. Its state is the whole carry (``h`` and ``c`` for the
    LSTM), flattened, complex entries as ``[Re, Im]``: with the step Jacobian
    ``A_t = ∂carry_t/∂carry_{t-1}``, the tangent frame ``Q_t R_t = A_t Q_{t-1}``
    gives ``λ_i = (1/T) Σ_t log|R_t[i, i]|`` (Benettin et al. 1980; Pikovsky &
    Politi 2016, ch. 3). Re-orthonormalising every step keeps every number O(1),
    so T = 10 000+ works in float32 where the raw product underflows.

        with recurrence.record_lyapunov(8) as rec:
            model.apply(params, x, jnp.zeros_like(h), return_probe=True)
        rec.exponents   # [8], traced if inside jit: return it from the jitted function

    Args:
      num_exponents: k >= 1, at most the state dimension.
      burn_in: steps propagated before accumulating (0 <= burn_in < T).
      seed: seed of the random orthonormal initial frame.
    """
    if isinstance(num_exponents, bool) or not isinstance(num_exponents, int) or num_exponents < 1:
        raise ValueError(f"num_exponents={num_exponents!r} is invalid: it must be a positive integer")
    if isinstance(burn_in, bool) or not isinstance(burn_in, int) or burn_in < 0:
        raise ValueError(f"burn_in={burn_in!r} is invalid: it must be an integer >= 0")
    recorder = LyapunovRecorder(num_exponents, burn_in, seed)
    _RECORDERS.append(recorder)
    try:
        yield recorder
    finally:
        _RECORDERS.remove(recorder)


def _active_recorder() -> LyapunovRecorder | None:
    return _RECORDERS[-1] if _RECORDERS else None


def _check_dimension(recorder: LyapunovRecorder, dimension: int, length: int) -> None:
    if recorder.num_exponents > dimension:
        raise ValueError(
            f"num_exponents={recorder.num_exponents} is invalid: the recorded state has dimension {dimension}"
        )
    if recorder.burn_in >= length:
        raise ValueError(f"burn_in={recorder.burn_in} is invalid: it must be < T={length}")


def _to_real(leaves: list[Array]) -> Array:
    """Flattens carry leaves to one real vector, complex entries as ``[Re, Im]``."""
    parts = []
    for leaf in leaves:
        if jnp.iscomplexobj(leaf):
            parts += [leaf.real.ravel(), leaf.imag.ravel()]
        else:
            parts.append(leaf.ravel())
    return jnp.concatenate(parts)


def _from_real(vector: Array, like: list[Array]) -> list[Array]:
    """Inverse of `_to_real` for leaves shaped and typed like ``like``."""
    out, offset = [], 0
    for leaf in like:
        n = leaf.size
        if jnp.iscomplexobj(leaf):
            re, im = vector[offset : offset + n], vector[offset + n : offset + 2 * n]
            out.append(jax.lax.complex(re, im).reshape(leaf.shape))
            offset += 2 * n
        else:
            out.append(vector[offset : offset + n].reshape(leaf.shape).astype(leaf.dtype))
            offset += n
    return out


def _tangent_step(step: Step, recorder: LyapunovRecorder):
    """``(carry, x_t, (Q, log_r, t)) -> (carry_t, (Q', log_r', t + 1))``: one QR step of the frame."""

    def advance(carry, x_t, frame):
        Q, log_r, t = frame
        leaves, treedef = jax.tree.flatten(carry)
        inexact = [jnp.issubdtype(leaf.dtype, jnp.inexact) for leaf in leaves]
        floats = [leaf for leaf, keep in zip(leaves, inexact) if keep]

        def vector_step(v):
            it = iter(_from_real(v, floats))
            merged = [next(it) if keep else leaf for leaf, keep in zip(leaves, inexact)]
            new = step(jax.tree.unflatten(treedef, merged), x_t)
            new_floats = [leaf for leaf in jax.tree.leaves(new) if jnp.issubdtype(leaf.dtype, jnp.inexact)]
            return _to_real(new_floats), new

        _, jvp, new_carry = jax.linearize(vector_step, _to_real(floats), has_aux=True)
        Q, R = jnp.linalg.qr(jax.vmap(jvp, in_axes=1, out_axes=1)(Q))
        growth = jnp.log(jnp.abs(jnp.diagonal(R)))
        log_r = log_r + jnp.where(t >= recorder.burn_in, growth, 0.0)
        return new_carry, (Q, log_r, t + 1)

    return advance


def _initial_frame(carry: Carry, recorder: LyapunovRecorder) -> tuple[Array, Array, Array]:
    floats = [leaf for leaf in jax.tree.leaves(carry) if jnp.issubdtype(leaf.dtype, jnp.inexact)]
    state = _to_real(floats)
    n, k = state.shape[0], recorder.num_exponents
    gaussian = jax.random.normal(jax.random.key(recorder.seed), (n, k), state.dtype)
    Q, _ = jnp.linalg.qr(gaussian)
    return Q, jnp.zeros((k,), state.dtype), jnp.zeros((), jnp.int32)


def scan(
    step: Step,
    carry: Carry,
    inputs: Any,
    *,
    emit: Sequence[str] = ("h",),
    perturbation: Array | None = None,
    site: str = "h",
    truncate: int | Array | None = None,
    unroll: int = 1,
) -> tuple[Carry, dict[str, Array]]:
    """Runs ``step`` over the time axis of ``inputs``.

    Args:
      step: pure function ``(carry, input_t) -> carry``.
      carry: the initial carry, a dict of ``[B, ...]`` arrays.
      inputs: pytree of time-major arrays ``[T, B, ...]``.
      emit: carry entries to stack over time and return.
      perturbation: optional ``[T, B, ...]`` added to ``carry[site]`` after each
        step (shape of ``carry[site]`` per step).
      site: the carry entry the perturbation enters.
      truncate: optional (possibly traced) int k: the carry entering step ``T - k``
        is wrapped in `jax.lax.stop_gradient`, so gradients of anything at steps
        ``>= T - k`` only flow through the last k steps (truncated BPTT). For a
        loss on the last step, ``∂L/∂θ`` then sums exactly the contributions of
        the last k steps, which is how `seqgrad.gradflow` decomposes a weight
        gradient by distance from the loss.
      unroll: `lax.scan` unroll factor.

    Returns:
      ``(final_carry, {name: [T, B, ...] for name in emit})``; emitted values are
      taken after the perturbation, so ``∂ emitted[site][T-1] / ∂ δ_{T-1} = I``.
    """
    if site not in carry:
        raise ValueError(f"perturbation site {site!r} is not a carry entry; valid sites: {sorted(carry)}")

    length = jax.tree.leaves(inputs)[0].shape[0]
    recorder = _active_recorder() if perturbation is not None else None

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
        if delta_t is not None:
            carry = {**carry, site: carry[site] + delta_t}
        return (carry, frame), {name: carry[name] for name in emit}

    frame = None
    if recorder is not None:
        advance = _tangent_step(step, recorder)
        frame = _initial_frame(carry, recorder)
        _check_dimension(recorder, frame[0].shape[0], length)
    steps = jnp.arange(length) if truncate is not None else None
    (carry, frame), out = jax.lax.scan(body, (carry, frame), (inputs, perturbation, steps), unroll=unroll)
    if recorder is not None:
        recorder.log_growth, recorder.steps, recorder.dimension = frame[1], length - recorder.burn_in, frame[0].shape[0]
    return carry, out


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


def linear_recurrence(a: Array, b: Array, initial: Array | None = None) -> Array:
    """Solves ``s_t = a_t ⊙ s_{t-1} + b_t`` for all t with an associative scan.

    Args:
      a: ``[T, ...]`` multiplicative coefficients (real or complex).
      b: ``[T, ...]`` additive inputs, same shape as ``a``.
      initial: optional ``s_{-1}`` of shape ``a.shape[1:]`` (zero if omitted).

    Returns:
      ``s``: ``[T, ...]``. Cost O(T) work, O(log T) depth (Blelloch 1990).
    """
    if initial is not None:
        b = b.at[0].add(a[0] * initial)
    recorder = _active_recorder()
    if recorder is not None:
        _record_diagonal(recorder, jnp.broadcast_to(a, b.shape))

    def combine(left, right):
        a_l, b_l = left
        a_r, b_r = right
        return a_r * a_l, a_r * b_l + b_r

    _, s = jax.lax.associative_scan(combine, (a, b), axis=0)
    return s


def _record_diagonal(recorder: LyapunovRecorder, a: Array) -> None:
    """Lyapunov exponents of ``s_t = a_t ⊙ s_{t-1} + b_t``: the step Jacobian is ``diag(a_t)``.

    The frame stays axis-aligned, so ``λ_i = (1/T) Σ_t log|a_t,i|`` exactly, no QR
    needed; a complex unit (a 2×2 rotation-scaling in the real view) gives two equal
    exponents.
    """
    length = a.shape[0]
    _check_dimension(recorder, (2 if jnp.iscomplexobj(a) else 1) * a[0].size, length)
    log_a = jnp.log(jnp.abs(a[recorder.burn_in :])).reshape(length - recorder.burn_in, -1).sum(axis=0)
    if jnp.iscomplexobj(a):
        log_a = jnp.concatenate([log_a, log_a])
    recorder.log_growth = -jnp.sort(-log_a)[: recorder.num_exponents]
    recorder.steps, recorder.dimension = length - recorder.burn_in, log_a.shape[0]


def time_major(x: Array) -> Array:
    """``[B, T, ...] -> [T, B, ...]``."""
    return jnp.swapaxes(x, 0, 1)


def batch_major(x: Array) -> Array:
    """``[T, B, ...] -> [B, T, ...]``."""
    return jnp.swapaxes(x, 0, 1)
