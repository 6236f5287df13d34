"""The wrappers a perturbation travels in, from `RecurrentModel` down to the scan at the site.

A wrapper is a pytree around the batch-major ``δ`` (``[B, T, ...]``) that asks the
scan it reaches for something more; `jax.tree.map` maps the wrapped array and keeps
the request. None of them is an array: arithmetic on `Window` or `SquaredNorms`
raises a `TypeError` subclass, so a layer that adds its perturbation by hand, or a
linear recurrence (`seqgrad.models.linear_scan`), refuses them instead of computing
something else.

* ``Remat(δ, B)``: run the recurrence as ``⌈T/B⌉`` `jax.checkpoint`-ed blocks of B
  steps; reverse mode keeps ``O(T/B + B)`` carries instead of ``O(T)`` step
  residuals, for one extra forward pass; same values and gradients. An associative
  scan ignores the block.
* ``Window(δ [B, W, ...], lead)``: the first ``lead`` steps run forward only, ``δ``
  enters the last W: W reverse steps per cotangent instead of ``lead + W``.
* ``SquaredNorms(s [B, T])`` (zeros), in place of ``δ``: the carry is left as it is
  (``carry_t[site] + 0·s_t``, `norm_tap`) and the cotangent of ``s_t`` is
  ``‖g_t‖²``, ``g_t = ∂L/∂carry_t[site]`` the adjoint of ``δ_t``: ``[T]`` numbers
  per reverse pass instead of ``[T, n]``.

`seqgrad.gradflow.jacobian_profile` sends all three.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from seqgrad.models import tangent_frame

Array = jax.Array

__all__ = ["Remat", "SquaredNorms", "SquaredNormsUnsupported", "Window", "WindowUnsupported", "norm_tap",
           "split_remat"]


@jax.tree_util.register_pytree_node_class
class Remat:
    """A perturbation ``delta`` that also asks the scan it enters to rematerialise in blocks of ``block`` steps.

    ``block`` (an int >= 1) is static pytree data, so `jax.tree.map` maps ``delta``
    and keeps the request. Like a Lyapunov-tracked perturbation it is not an
    array: pass it as ``perturbation=`` to `recurrence.scan`, `recurrence.scan_layer`
    or `linear_scan.linear_recurrence`.
    """

    def __init__(self, delta: Any, block: int):
        self.delta, self.block = delta, block

    def tree_flatten(self):
        return (self.delta,), self.block

    @classmethod
    def tree_unflatten(cls, block, children):
        return cls(children[0], block)


class WindowUnsupported(TypeError):
    """A `Window` request reached code that only takes an array perturbation (not a step-wise `recurrence.scan`)."""


@jax.tree_util.register_pytree_node_class
class Window:
    """A perturbation ``delta`` (``[B, W, ...]``) of the last W steps only, after ``lead`` steps run forward only.

    `recurrence.scan` runs the first ``lead`` steps as a scan of their own, with no
    perturbation, then the last W steps with ``delta``: since nothing differentiated
    enters the lead, reverse mode never runs through it, so ``∂h_(L−1)/∂h_t`` for the
    last W steps of an L-step sequence costs W reverse steps per cotangent instead of L
    (a burn-in, or the singular values of the nearest distances of
    `seqgrad.gradflow.jacobian_profile`). ``lead`` is static pytree data; ``delta`` may
    wrap `Remat` or `SquaredNorms`. Only a step-wise scan takes it: arithmetic on it,
    or `linear_scan.linear_recurrence`, raise `WindowUnsupported` (the caller then pads
    ``delta`` with zeros instead).
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
    """Asks a step-wise `recurrence.scan` for ``‖∂L/∂carry_t[site]‖²`` as the cotangent of ``s`` (``[B, T]``).

    Not an array: arithmetic on it raises `SquaredNormsUnsupported`, so a layer
    that transforms its perturbation by hand, or a linear recurrence, refuses it
    instead of computing something else. The pullback of ``s`` is quadratic in
    its cotangent (not a linear map): call it (vmap it), do not transpose or
    differentiate it further. It may be wrapped in `Remat`.
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
def norm_tap(parts: tuple, s: Array) -> tuple:
    """Identity on ``parts`` (the site's carry entries, ``[B, n_i]`` each); ``s: [B]`` receives ``Σ_i ‖g_i‖²``."""
    del s
    return parts


def _norm_tap_fwd(parts, s):
    return parts, s


def _norm_tap_bwd(s, g):
    return g, sum(jnp.sum(gi * gi, axis=-1) for gi in g).astype(s.dtype)


norm_tap.defvjp(_norm_tap_fwd, _norm_tap_bwd)


def split_remat(perturbation: Any) -> tuple[Any, int | None]:
    """``perturbation -> (perturbation without the `Remat` wrapper, its block or None)`` (also inside `Tracked`)."""
    if isinstance(perturbation, Remat):
        return perturbation.delta, perturbation.block
    if isinstance(perturbation, tangent_frame.Tracked) and isinstance(perturbation.delta, Remat):
        inner = perturbation.delta
        return tangent_frame.Tracked(inner.delta, perturbation.request), inner.block
    return perturbation, None
