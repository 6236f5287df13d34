"""Causal self-attention decoder (pre-LN Transformer).

Vaswani et al. (2017), "Attention is all you need", with the pre-LN block of
Xiong et al. (2020), "On layer normalization in the Transformer architecture":

    z⁰_t = x_t W_in + b_in + PE_t + δ_t                  # residual stream, [B, T, H]
    for l = 1..L:
        z ← z + MHA(LN(z))                                # causal: position t reads j ≤ t
        z ← z + W₂ gelu(W₁ LN(z) + b₁) + b₂               # MLP, width mlp_ratio·H
    h = LN(z)

``PE_{t, 2i} = sin(t / base^(2i/H))``, ``PE_{t, 2i+1} = cos(t / base^(2i/H))``
(sinusoidal, ``base = positional_base``); ``gelu`` is the tanh approximation;
attention is flax `MultiHeadDotProductAttention` with ``num_heads`` heads of width
``H / num_heads`` and a causal mask.

Shapes: ``x: [B, T, D] -> h: [B, T, H]``. The perturbation ``δ`` enters the
residual stream before the first block, and the probe is the output ``h``: there
is no carried state, every output reaches every earlier position in one
attention hop (the page's O(1) gradient path), and the whole sequence is
computed in parallel.
"""

from __future__ import annotations

from typing import ClassVar

import flax.linen as nn
import jax.numpy as jnp

from seqgrad.models.base import check_site
from seqgrad.models.registry import check_positive, register, registered


def sinusoidal_encoding(length: int, features: int, base: float, dtype=jnp.float32):
    """``[length, features]`` with ``PE[t, 2i] = sin(t / base^(2i/H))``, ``PE[t, 2i+1] = cos(...)``."""
    position = jnp.arange(length, dtype=dtype)[:, None]
    pair = (jnp.arange(features) // 2).astype(dtype)
    angle = position / jnp.power(jnp.asarray(base, dtype), 2.0 * pair / features)
    return jnp.where(jnp.arange(features) % 2 == 0, jnp.sin(angle), jnp.cos(angle))


class DecoderBlock(nn.Module):
    """Pre-LN block ``z + MHA(LN z)``, then ``+ MLP(LN z)``: ``z: [B, T, H] -> [B, T, H]``."""

    num_heads: int
    mlp_ratio: int

    @nn.compact
    def __call__(self, z, mask):
        H, dtype = z.shape[-1], z.dtype
        y = nn.LayerNorm(dtype=dtype, param_dtype=dtype, name="attention_norm")(z)
        y = nn.MultiHeadDotProductAttention(
            num_heads=self.num_heads, dtype=dtype, param_dtype=dtype, name="attention"
        )(y, mask=mask)
        z = z + y
        y = nn.LayerNorm(dtype=dtype, param_dtype=dtype, name="mlp_norm")(z)
        y = nn.Dense(self.mlp_ratio * H, dtype=dtype, param_dtype=dtype, name="mlp_in")(y)
        y = nn.Dense(H, dtype=dtype, param_dtype=dtype, name="mlp_out")(nn.gelu(y))
        return z + y


def _validate(options):
    opts = {**registered("transformer").options, **options}
    check_positive(opts, "num_heads", "mlp_ratio")
    if opts["hidden_size"] % opts["num_heads"]:
        raise ValueError(
            f"num_heads={opts['num_heads']!r} is invalid for 'transformer': "
            f"it must divide hidden_size={opts['hidden_size']!r}"
        )
    if not opts["positional_base"] > 1.0:
        raise ValueError(
            f"positional_base={opts['positional_base']!r} is invalid for 'transformer': it must be > 1"
        )


@register("transformer", validate=_validate, probe_is_state=False)
class Transformer(nn.Module):
    """Causal pre-LN Transformer decoder: ``x: [B, T, D] -> h: [B, T, H]``.

    Options: ``num_layers`` blocks, ``num_heads`` (must divide ``hidden_size``),
    ``mlp_ratio`` (MLP width ``mlp_ratio · H``), ``positional_base`` (the
    sinusoidal encoding's 10000). ``apply`` takes the common arguments
    ``perturbation`` (added to the residual stream entering the first block),
    ``site="hidden"`` and ``return_probe`` (the probe is ``h``); ``truncate`` is
    rejected: there is no recurrence.
    """

    hidden_size: int
    num_layers: int = 2
    num_heads: int = 4
    mlp_ratio: int = 4
    positional_base: float = 10000.0

    sites: ClassVar[tuple[str, ...]] = ("hidden",)

    @nn.compact
    def __call__(self, x, perturbation=None, *, site="hidden", return_probe=False, truncate=None):
        check_site(self, site)
        if truncate is not None:
            raise ValueError(f"truncate={truncate!r} is invalid for 'transformer': it has no recurrence")
        B, T, _ = x.shape
        dtype = x.dtype
        z = nn.Dense(self.hidden_size, dtype=dtype, param_dtype=dtype, name="input_projection")(x)
        z = z + sinusoidal_encoding(T, self.hidden_size, self.positional_base, dtype)
        if perturbation is not None:
            z = z + perturbation
        mask = nn.make_causal_mask(jnp.ones((B, T), bool))
        for index in range(self.num_layers):
            z = DecoderBlock(self.num_heads, self.mlp_ratio, name=f"block_{index}")(z, mask)
        h = nn.LayerNorm(dtype=dtype, param_dtype=dtype, name="final_norm")(z)
        return (h, h) if return_probe else h

