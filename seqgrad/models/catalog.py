"""Architectures by name: the registered ones (`registry`) and import strings (`imported`).

    >>> from seqgrad import models
    >>> lstm = models.create("lstm", hidden_size=64, forget_bias=1.0)
    >>> models.info("flax:GRUCell").parallel
    'no'

`create` is the single boundary where user options are checked: an unknown name or
option, or an invalid value, raises a `ValueError` naming it and the valid choices.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import flax.linen as nn

from seqgrad import checks
from seqgrad.models import imported
from seqgrad.models.registry import Architecture, check_bool, check_positive, registered


def info(name: str) -> Architecture:
    """The `Architecture` record of ``name``; `ValueError` listing the names if unknown.

    Besides the registered names, ``name`` may be an import string:
    ``"flax:OptimizedLSTMCell"`` (a `flax.linen` cell class, built with
    ``features=hidden_size``), ``"nnx:package.module:Name"`` / ``"eqx:package.module:Name"``
    (a Flax NNX or equinox cell) or ``"package.module:Name"`` (a seqgrad-style Module,
    a flax cell or an NNX cell), see `seqgrad.models.imported`.
    """
    if isinstance(name, str) and ":" in name:
        return imported.architecture(name)
    return registered(name)


def validate_options(name: str, options: Mapping[str, Any]) -> Architecture:
    """Checks ``options`` (``hidden_size`` included) for ``name`` without building anything."""
    arch = info(name)
    valid = arch.options
    for key in options:
        if key not in valid:
            raise ValueError(
                f"unknown option {key!r} for architecture {name!r}; valid options: {sorted(valid)}"
            )
    for key, allowed in arch.choices.items():
        if key in options and options[key] not in allowed:
            raise ValueError(
                f"{key}={options[key]!r} is invalid for architecture {name!r}; "
                f"valid choices: {list(allowed)}"
            )
    check_positive(options, "hidden_size", "num_layers", "unroll")
    check_bool(options, "fused")
    try:
        checks.model_options(options)  # every number option finite, and in its range
    except ValueError as err:  # name the architecture, as the other option errors do
        raise ValueError(str(err).replace(" is invalid", f" is invalid for {name!r}", 1)) from None
    if arch.validate is not None:
        arch.validate(dict(options))
    return arch


def create(name: str, *, hidden_size: int, **options: Any) -> nn.Module:
    """Builds the architecture ``name`` with ``hidden_size`` and ``options``.

    Returns:
      A `flax.linen.Module`; ``module.apply(params, x)`` maps ``x: [B, T, D]`` to
      the hidden sequence ``h: [B, T, hidden_size]``.

    Raises:
      ValueError: unknown name or option, or an invalid value; the message names
        the bad key or value and lists the valid choices.
    """
    arch = validate_options(name, {"hidden_size": hidden_size, **options})
    if arch.build is not None:
        return arch.build(hidden_size=hidden_size, **options)
    return arch.module(hidden_size=hidden_size, **options)
