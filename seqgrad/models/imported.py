"""Architectures named by an import string instead of a registry name.

    models.create("flax:OptimizedLSTMCell", hidden_size=64)        # flax.linen.OptimizedLSTMCell(features=64)
    models.create("my_package.cells:MyCell", hidden_size=64, **options)

* ``"flax:Name"``: the class ``flax.linen.Name``, a `flax.linen.RNNCellBase`,
  built as ``Name(features=hidden_size, **options)`` and wrapped by
  `seqgrad.models.from_flax` (options: the cell's fields, plus ``unroll``).
* ``"package.module:Name"``: ``Name`` imported from ``package.module``: either a
  flax cell (as above) or a seqgrad-style Module, a `flax.linen.Module` with a
  ``hidden_size`` field and seqgrad's calling convention (`seqgrad.models.base`).
  A class registered with `seqgrad.models.register` keeps its registry record;
  an unregistered one may carry the metadata as class attributes
  (``path_length``, ``parallel``, ``paper``, ``claim``, ``probe_is_state``,
  ``recurrent_params``).

`seqgrad.models.info` and `create` resolve such names here; an import failure or a
class of the wrong kind is a one-line `ValueError` naming the string.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib

import flax.linen as nn

from seqgrad.models import registry
from seqgrad.models.flax_cell import from_flax

_INTERNALS = ("parent", "name")


def _fields(cls) -> dict:
    return {f.name: f.default for f in dataclasses.fields(cls) if f.init and f.name not in _INTERNALS}


def _resolve(name: str):
    module_name, _, attribute = name.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"architecture {name!r} is invalid: an import string reads 'package.module:Name'")
    module_name = "flax.linen" if module_name == "flax" else module_name
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # any failure while importing user code is the user's string
        raise ValueError(f"architecture {name!r}: cannot import {module_name!r} ({type(err).__name__}: {err})") from None
    if not hasattr(module, attribute):
        raise ValueError(f"architecture {name!r}: module {module_name!r} has no attribute {attribute!r}")
    return getattr(module, attribute)


def _cell_architecture(name: str, cls) -> registry.Architecture:
    options = {k: v for k, v in _fields(cls).items() if k != "features"}

    def build(*, hidden_size, unroll=1, **cell_options):
        return from_flax(cls(features=hidden_size, **cell_options), unroll=unroll)

    return registry.Architecture(
        name=name,
        module=cls,
        path_length="O(T)",
        parallel="no",
        paper=f"{cls.__module__}.{cls.__qualname__} (wrapped by seqgrad.models.from_flax)",
        claim="",
        probe_is_state=True,
        # flax names every dense kernel "kernel": the decomposition covers all of them.
        recurrent_params=("kernel",),
        build=build,
        option_defaults={"hidden_size": dataclasses.MISSING, **options, "unroll": 1},
    )


def _module_architecture(name: str, cls) -> registry.Architecture:
    for registered in registry.available():
        if registry.info(registered).module is cls:
            return registry.info(registered)
    if "hidden_size" not in _fields(cls):
        raise ValueError(
            f"architecture {name!r}: {cls.__qualname__} is a flax Module without a hidden_size field; "
            "a seqgrad model takes hidden_size (see seqgrad.models.base) or is a flax.linen.RNNCellBase"
        )
    return registry.Architecture(
        name=name,
        module=cls,
        path_length=getattr(cls, "path_length", "unknown"),
        parallel=getattr(cls, "parallel", "no"),
        paper=getattr(cls, "paper", f"{cls.__module__}.{cls.__qualname__}"),
        claim=getattr(cls, "claim", ""),
        probe_is_state=getattr(cls, "probe_is_state", True),
        recurrent_params=tuple(getattr(cls, "recurrent_params", ())),
    )


@functools.cache
def architecture(name: str) -> registry.Architecture:
    """The `Architecture` record of the import string ``name`` (cached per string)."""
    cls = _resolve(name)
    if isinstance(cls, type) and issubclass(cls, nn.RNNCellBase):
        return _cell_architecture(name, cls)
    if isinstance(cls, type) and issubclass(cls, nn.Module):
        return _module_architecture(name, cls)
    raise ValueError(
        f"architecture {name!r} is {cls!r}: expected a flax.linen.RNNCellBase subclass or a seqgrad Module class"
    )
