"""The calling convention every seqgrad model follows, and the shared layer stack.

Every registered model is a `flax.linen.Module` called as

    h = model.apply(params, x)                                   # x: [B, T, D] -> h: [B, T, H]
    h, probe = model.apply(params, x, perturbation=delta,
                           site="hidden", return_probe=True)     # delta, probe: [B, T, H]

* ``perturbation`` ``δ`` (``[B, T, H]``, zero for a measurement) is added at the
  model's perturbation *site* after every step: the carried hidden state for
  recurrent models (``site="cell"`` selects the LSTM cell state), the residual
  stream entering the first block for the Transformer and the dilated convolution.
* ``probe`` is the sequence whose last entry gradient-flow diagnostics
  differentiate: the state at the site for recurrent models (so
  ``∂probe_{T-1}/∂δ_{T-1} = I``), the model's output for models without a carried
  state (Transformer, dilated convolution, the attention read-out).

`RecurrentModel` stacks ``num_layers`` copies of an architecture's layer; the
perturbation enters the last (top) layer, whose state is the model's output.
Recurrent models also take ``truncate=k`` (truncated BPTT through the last k
steps, see `seqgrad.models.recurrence.scan`), used to decompose a weight
gradient by distance from the loss, and ``lyapunov=LyapunovSpec(k, ...)``: the
top layer's recurrence then carries a tangent frame and the model sows its
`LyapunovStats` into the flax collection ``"lyapunov"`` (``apply(...,
mutable=["lyapunov"])``; see `seqgrad.models.recurrence`).

Which implementation runs is decided once per call, for the whole stack, by
`seqgrad.models.handwritten_vjp.selected`: the hand-written VJP in every layer
when the model has one and it is enabled (option ``fused``, default True), and
the call has no perturbation, no truncation, no Lyapunov request and the site
``"hidden"``; otherwise JAX's autodiff of the generic `recurrence.scan` in every
layer.
"""

from __future__ import annotations

from typing import ClassVar

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqgrad.models import handwritten_vjp, recurrence, tangent_frame

Array = jax.Array


def check_site(model: nn.Module, site: str) -> None:
    """Raises `ValueError` unless ``site`` is one of ``model.sites``."""
    if site not in model.sites:
        raise ValueError(
            f"site={site!r} is invalid for {type(model).__name__}; valid sites: {list(model.sites)}"
        )


class RecurrentModel(nn.Module):
    """A stack of ``num_layers`` recurrent layers: ``x: [B, T, D] -> h: [B, T, H]``.

    Subclasses set ``layer`` to their one-layer Module class, called as
    ``layer(x [B, T, D_in], perturbation=[B, T, H] | None, site=..., truncate=None)
    -> (h, probe)``, both ``[B, T, H]``; every field of the layer class is taken
    from the model's field of the same name.
    """

    hidden_size: int
    num_layers: int = 1

    sites: ClassVar[tuple[str, ...]] = ("hidden",)
    layer: ClassVar[type[nn.Module]]

    def site_size(self, site: str) -> int:
        """Width of the perturbation and probe at ``site`` (``hidden_size`` unless a model says otherwise)."""
        del site
        return self.hidden_size

    def make_layer(self, index: int, **overrides) -> nn.Module:
        """Layer ``index`` of the stack, built from the model's own option values (and ``overrides``)."""
        options = {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self.layer)
            if field.init and field.name not in ("parent", "name")
        }
        options.update({key: value for key, value in overrides.items() if key in options})
        return self.layer(**options, name=f"layer_{index}")

    @nn.compact
    def __call__(
        self,
        x: Array,
        perturbation: Array | None = None,
        *,
        site: str = "hidden",
        return_probe: bool = False,
        truncate: int | Array | None = None,
        lyapunov: tangent_frame.LyapunovSpec | None = None,
    ):
        check_site(self, site)
        request = None
        if lyapunov is not None:
            request = tangent_frame.Request(lyapunov)
            if perturbation is None:
                perturbation = jnp.zeros((*x.shape[:2], self.site_size(site)), x.dtype)
            perturbation = tangent_frame.Tracked(perturbation, request)
        # The one dispatch rule, for every layer of the stack alike.
        handwritten = handwritten_vjp.selected(self, perturbation, truncate, site)
        h, probe = x, None
        for index in range(self.num_layers):
            top = index == self.num_layers - 1
            layer = self.make_layer(index, fused=handwritten)
            h, probe = layer(h, perturbation if top else None, site=site, truncate=truncate)
        if request is not None and request.result is not None:
            self.sow(recurrence.LYAPUNOV, "stats", request.result, init_fn=lambda: None, reduce_fn=lambda _, new: new)
        return (h, probe) if return_probe else h
