"""Lyapunov exponents of a recurrence: the tangent frame carried by `recurrence.scan`, and its result.

For the state recurrence ``s_t = F(s_{t-1}, x_t)`` with step Jacobians
``A_t = ∂s_t/∂s_{t-1}`` (the whole carry flattened, complex entries as
``[Re, Im]``), k tangent vectors ``Q_{t-1}: [n, k]`` are pushed through
``jax.linearize`` of the step and re-orthonormalised every step,
``Q_t R_t = A_t Q_{t-1}`` (Benettin et al. 1980; Pikovsky & Politi 2016, ch. 3):

    λ_i = (1/T) Σ_t log|R_t[i, i]|.

Re-orthonormalising keeps every number O(1), so T = 10 000+ works in float32.

Exactly-zero directions. A singular step (a ReLU unit that is off, a zero
weight) can map a frame vector to zero; its ``log|R_ii|`` is ``-inf`` and, with
the plain method, stays ``-inf`` although the product may still have k finite
exponents (the frame vector merely hit the kernel). Here a column whose
``|R_ii|`` is at rounding level (``<= n·eps·max_j |R_jj|``, or exactly 0) is
*annihilated*: its direction restarts (the QR supplies a fresh orthonormal
column), its sum ``log_growth_i`` and its ``lifetime_i`` (steps counted) reset to
0, and ``zero_directions`` counts the event. Its exponent is measured over its
last life, ``λ_i = log_growth_i / lifetime_i``, and is ``-inf`` only when the
direction was annihilated on the very last step, i.e. when the product's rank is
below k on the recorded stretch. Annihilations during the burn-in are not
counted: the frame restarts silently, which removes units that die early.

A linear recurrence ``s_t = a_t ⊙ s_{t-1} + b_t`` has ``A_t = diag(a_t)``: the
frame stays axis-aligned and ``λ_i = mean_t log|a_t,i|`` exactly (`diagonal`),
with the same restart rule at ``a_t,i = 0``.

The request is the static, hashable `LyapunovSpec`; the result is a
`LyapunovStats` pytree, returned as an output (never stored in module state),
so it works eagerly, under `jax.jit` and under `jax.vmap`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class LyapunovSpec:
    """What to measure: the ``num_exponents`` largest exponents after ``burn_in`` steps.

    Attributes:
      num_exponents: k >= 1, at most the real dimension of the recorded state.
      burn_in: steps propagated before accumulating (0 <= burn_in < T).
      seed: seed of the random orthonormal initial frame.
    """

    num_exponents: int
    burn_in: int = 0
    seed: int = 0

    def __post_init__(self):
        k, burn_in = self.num_exponents, self.burn_in
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"num_exponents={k!r} is invalid: it must be a positive integer")
        if isinstance(burn_in, bool) or not isinstance(burn_in, int) or burn_in < 0:
            raise ValueError(f"burn_in={burn_in!r} is invalid: it must be an integer >= 0")

    def check(self, dimension: int, length: int) -> None:
        """Raises `ValueError` if k exceeds the state dimension or the burn-in the length."""
        if self.num_exponents > dimension:
            raise ValueError(
                f"num_exponents={self.num_exponents} is invalid: the recorded state has dimension {dimension}"
            )
        if self.burn_in >= length:
            raise ValueError(f"burn_in={self.burn_in} is invalid: it must be < T={length}")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class LyapunovStats:
    """What a recorded recurrence returns (a pytree: vmap adds a leading axis to each leaf).

    Attributes:
      log_growth: ``[k]`` sum of ``log|R_ii|`` of each frame direction over its last life.
      lifetime: ``[k]`` steps in that sum (``T - burn_in`` unless the direction restarted).
      zero_directions: ``[]`` int, annihilation events after the burn-in (0: none).
      dimension: real dimension n of the recorded state (static).
    """

    log_growth: Array
    lifetime: Array
    zero_directions: Array
    dimension: int = dataclasses.field(metadata={"static": True})

    @property
    def exponents(self) -> Array:
        """``[..., k]`` exponents in nats per step, sorted descending; ``-inf`` for a direction with no life."""
        rate = jnp.where(self.lifetime > 0, self.log_growth / jnp.maximum(self.lifetime, 1), -jnp.inf)
        return -jnp.sort(-rate, axis=-1)


@dataclasses.dataclass
class Request:
    """A per-call box: the spec going down to the recorded scan, its `LyapunovStats` coming back.

    Created and read inside one call of `seqgrad.models.base.RecurrentModel`, so
    it never outlives the trace that fills it.
    """

    spec: LyapunovSpec
    result: LyapunovStats | None = None

    def deliver(self, stats: LyapunovStats) -> None:
        if self.result is not None:
            raise ValueError("two recurrences received the same Lyapunov request; only the top layer's is recorded")
        self.result = stats


@jax.tree_util.register_pytree_node_class
class Tracked:
    """A perturbation ``delta`` that also carries a Lyapunov `Request` to the scan it enters.

    It is not an array: arithmetic on it raises, so a layer that adds the
    perturbation by hand must pass it to `recurrence.scan` or
    `linear_scan.linear_recurrence` (``perturbation=``) instead.
    """

    def __init__(self, delta: Array, request: Request):
        self.delta, self.request = delta, request

    def tree_flatten(self):
        return (self.delta,), self.request

    @classmethod
    def tree_unflatten(cls, request, children):
        return cls(children[0], request)

    def _refuse(self, *_):
        raise TypeError(
            "a Lyapunov-tracked perturbation is not an array: pass it as `perturbation=` to "
            "recurrence.scan or linear_scan.linear_recurrence (see the seqgrad.models.recurrence docstring)"
        )

    __add__ = __radd__ = __sub__ = __mul__ = __rmul__ = __getitem__ = __array__ = _refuse


def split(perturbation: Any) -> tuple[Array | None, LyapunovSpec | None, Request | None]:
    """``perturbation -> (delta, spec, request)``; spec and request are None for a plain array."""
    if isinstance(perturbation, Tracked):
        return perturbation.delta, perturbation.request.spec, perturbation.request
    return perturbation, None, None


def _to_real(leaves: list[Array]) -> Array:
    """Flattens carry leaves to one real vector, complex entries as ``[Re, Im]``."""
    parts = []
    for leaf in leaves:
        parts += [leaf.real.ravel(), leaf.imag.ravel()] if jnp.iscomplexobj(leaf) else [leaf.ravel()]
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


def _floats(carry) -> list[Array]:
    return [leaf for leaf in jax.tree.leaves(carry) if jnp.issubdtype(leaf.dtype, jnp.inexact)]


def initial_frame(carry, spec: LyapunovSpec, length: int):
    """``(Q [n, k], log_growth [k], lifetime [k], zeros [], t [])`` for the carry's state."""
    state = _to_real(_floats(carry))
    n, k = state.shape[0], spec.num_exponents
    spec.check(n, length)
    Q, _ = jnp.linalg.qr(jax.random.normal(jax.random.key(spec.seed), (n, k), state.dtype))
    zero = jnp.zeros((k,), state.dtype)
    return Q, zero, jnp.zeros((k,), jnp.int32), jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32)


def _accumulate(frame_sums, growth, annihilated, t, burn_in):
    """One step of the sums: restart annihilated directions, count them after the burn-in."""
    log_growth, lifetime, zeros = frame_sums
    recorded = t >= burn_in
    log_growth = jnp.where(annihilated, 0.0, log_growth + jnp.where(recorded, growth, 0.0))
    lifetime = jnp.where(annihilated, 0, lifetime + recorded.astype(jnp.int32))
    zeros = zeros + jnp.sum(annihilated & recorded).astype(jnp.int32)
    return log_growth, lifetime, zeros


def advance(step, spec: LyapunovSpec):
    """``(carry, x_t, frame) -> (carry_t, frame')``: the step and one QR step of the tangent frame."""

    def run(carry, x_t, frame):
        Q, log_growth, lifetime, zeros, t = frame
        leaves, treedef = jax.tree.flatten(carry)
        inexact = [jnp.issubdtype(leaf.dtype, jnp.inexact) for leaf in leaves]

        def vector_step(v):
            it = iter(_from_real(v, [leaf for leaf, keep in zip(leaves, inexact) if keep]))
            new = step(jax.tree.unflatten(treedef, [next(it) if keep else leaf for leaf, keep in zip(leaves, inexact)]), x_t)
            return _to_real(_floats(new)), new

        _, jvp, new_carry = jax.linearize(vector_step, _to_real(_floats(carry)), has_aux=True)
        Q, R = jnp.linalg.qr(jax.vmap(jvp, in_axes=1, out_axes=1)(Q))
        r = jnp.abs(jnp.diagonal(R))
        # Below this, |R_ii| is rounding noise of a vector the step sent to zero.
        floor = Q.shape[0] * jnp.finfo(r.dtype).eps * jnp.max(r)
        annihilated = r <= floor
        growth = jnp.log(jnp.where(annihilated, 1.0, r))
        sums = _accumulate((log_growth, lifetime, zeros), growth, annihilated, t, spec.burn_in)
        return new_carry, (Q, *sums, t + 1)

    return run


def stats_of(frame) -> LyapunovStats:
    """The `LyapunovStats` of a frame after the last step."""
    Q, log_growth, lifetime, zeros, _ = frame
    return LyapunovStats(log_growth, lifetime, zeros, Q.shape[0])


def diagonal(a: Array, spec: LyapunovSpec) -> LyapunovStats:
    """`LyapunovStats` of ``s_t = a_t ⊙ s_{t-1} + b_t`` (``a: [T, ...]``): step Jacobian ``diag(a_t)``.

    Exact, no QR: each unit's exponent is ``mean log|a_t,i|`` over its last life
    (after its last ``a_t,i = 0``, see the module docstring); a complex unit (a
    2×2 rotation-scaling block in the real view) gives two equal exponents. The
    k largest are kept.
    """
    length = a.shape[0]
    complex_units = jnp.iscomplexobj(a)
    spec.check((2 if complex_units else 1) * a[0].size, length)
    log_a = jnp.log(jnp.abs(a.reshape(length, -1)))
    if complex_units:
        log_a = jnp.concatenate([log_a, log_a], axis=1)
    t = jnp.arange(length)[:, None]
    dead = (log_a == -jnp.inf) & (t >= spec.burn_in)
    last_dead = jnp.max(jnp.where(dead, t, spec.burn_in - 1), axis=0)  # [n]
    alive = t > last_dead
    log_growth = jnp.sum(jnp.where(alive, log_a, 0.0), axis=0)
    lifetime = (length - 1 - last_dead).astype(jnp.int32)
    rate = jnp.where(lifetime > 0, log_growth / jnp.maximum(lifetime, 1), -jnp.inf)
    top = jnp.argsort(-rate)[: spec.num_exponents]
    zeros = jnp.sum(dead).astype(jnp.int32) // (2 if complex_units else 1)
    return LyapunovStats(log_growth[top], lifetime[top], zeros, log_a.shape[1])
