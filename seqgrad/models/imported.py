"""Architectures named by an import string instead of a registry name.

    models.create("flax:OptimizedLSTMCell", hidden_size=64)        # flax.linen.OptimizedLSTMCell(features=64)
    models.create("my_package.cells:MyCell", hidden_size=64, **options)

* ``"flax:Name"``: the class ``flax.linen.Name``, a `flax.linen.RNNCellBase`,
  built as ``Name(features=hidden_size, **options)`` and wrapped by
  `seqgrad.models.from_flax` (options: the cell's fields, plus ``unroll``).
* ``"nnx:package.module:Name"`` (e.g. ``"nnx:flax.nnx:GRUCell"``): a Flax NNX cell
  class or factory, built as ``Name(in_features=D, hidden_features=hidden_size,
  rngs=nnx.Rngs(key), **options)`` once the input width D is known and run by
  `seqgrad.models.nnx_model` (options: its other keyword arguments, plus ``unroll``).
* ``"eqx:package.module:Name"``: an equinox cell class or factory, built as
  ``Name(input_size=D, hidden_size=hidden_size, key=key, **options)``
  (`seqgrad.models.equinox_cell`).
* ``"package.module:Name"``: ``Name`` imported from ``package.module``: a Flax NNX
  cell class (as ``"nnx:..."``), a flax cell (as above) or a seqgrad-style Module, a `flax.linen.Module` with a
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
import inspect

import flax.linen as nn
from flax import nnx

from seqgrad.models import registry, step_model
from seqgrad.models.flax_cell import from_flax

_INTERNALS = ("parent", "name")


def _fields(cls) -> dict:
    return {f.name: f.default for f in dataclasses.fields(cls) if f.init and f.name not in _INTERNALS}


def _resolve(name: str, spec: str | None = None):
    """The object ``spec`` (default ``name``, a ``"package.module:Name"``) names; errors name ``name``."""
    module_name, _, attribute = (name if spec is None else spec).partition(":")
    if not module_name or not attribute or ":" in attribute:
        raise ValueError(f"architecture {name!r} is invalid: an import string reads 'package.module:Name' "
                         "(or 'nnx:package.module:Name', 'eqx:package.module:Name')")
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
        if registry.registered(registered).module is cls:
            return registry.registered(registered)
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


# Prefix -> (what it names, the constructor arguments seqgrad supplies, the recurrent leaves' names).
_KINDS = {
    "nnx": ("a Flax NNX cell", ("in_features", "hidden_features", "rngs"), ("kernel",)),
    "eqx": ("an equinox cell", ("input_size", "hidden_size", "key"), ("weight_hh",)),
}


def _cell_factory_architecture(name: str, kind: str, factory) -> registry.Architecture:
    """An ``"nnx:..."`` or ``"eqx:..."`` class or factory, built once the input width is known."""
    what, supplied, recurrent = _KINDS[kind]
    try:
        # An NNX class's own signature is its metaclass's (*args, **kwargs): read __init__'s.
        parameters = dict(inspect.signature(factory.__init__ if isinstance(factory, type) else factory).parameters)
        if isinstance(factory, type):
            parameters.pop(next(iter(parameters)), None)  # self
    except (TypeError, ValueError):
        raise ValueError(f"architecture {name!r} is {factory!r}: expected {what} class or factory") from None
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    missing = [arg for arg in supplied if arg not in parameters and not takes_any]
    if missing or (kind == "nnx" and isinstance(factory, type) and not issubclass(factory, nnx.RNNCellBase)):
        raise ValueError(f"architecture {name!r}: expected {what} built as "
                         f"{getattr(factory, '__qualname__', factory)}({'=..., '.join(supplied)}=...)")
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    options = {p.name: (dataclasses.MISSING if p.default is inspect.Parameter.empty else p.default)
               for p in parameters.values() if p.kind in keyword and p.name not in supplied}
    if kind == "nnx":
        from seqgrad.models.nnx_model import nnx_cell as wrap  # noqa: PLC0415  (imports flax.nnx cells lazily)
    else:
        from seqgrad.models.equinox_cell import equinox_cell as wrap  # noqa: PLC0415  (equinox is optional)

    def build(*, hidden_size, unroll=1, **cell_options):
        return wrap(factory, hidden_size=hidden_size, unroll=unroll, **cell_options)

    return registry.Architecture(
        name=name,
        module=step_model.StepModel,
        path_length="O(T)",
        parallel="no",
        paper=f"{getattr(factory, '__module__', '?')}.{getattr(factory, '__qualname__', factory)} ({what})",
        claim="",
        probe_is_state=True,
        recurrent_params=recurrent,
        build=build,
        option_defaults={"hidden_size": dataclasses.MISSING, **options, "unroll": 1},
    )


@functools.cache
def architecture(name: str) -> registry.Architecture:
    """The `Architecture` record of the import string ``name`` (cached per string)."""
    kind, _, rest = name.partition(":")
    if kind in _KINDS:
        if kind == "eqx":
            from seqgrad.models import equinox_cell  # noqa: PLC0415

            try:
                equinox_cell._equinox()
            except ValueError as err:
                raise ValueError(f"architecture {name!r}: {err}") from None
        return _cell_factory_architecture(name, kind, _resolve(name, rest))
    cls = _resolve(name)
    if isinstance(cls, type) and issubclass(cls, nnx.RNNCellBase):
        return _cell_factory_architecture(name, "nnx", cls)
    if isinstance(cls, type) and issubclass(cls, nn.RNNCellBase):
        return _cell_architecture(name, cls)
    if isinstance(cls, type) and issubclass(cls, nn.Module):
        return _module_architecture(name, cls)
    raise ValueError(
        f"architecture {name!r} is {cls!r}: expected a flax.linen.RNNCellBase subclass or a seqgrad Module class"
    )
