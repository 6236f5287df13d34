"""Name -> architecture registry, with the seed's claims as metadata and option validation.

    >>> from seqgrad import models
    >>> models.available()[:3]
    ['attention_rnn', 'dilated_conv', 'gru']
    >>> lstm = models.create("lstm", hidden_size=64, forget_bias=1.0)

`create` is the single boundary where user options are checked: an unknown name or
option, or an invalid value, raises a `ValueError` naming it and the valid choices.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import flax.linen as nn

from seqgrad import checks

# Fields every flax Module carries that are not user options.
_MODULE_INTERNALS = frozenset({"parent", "name"})


@dataclasses.dataclass(frozen=True)
class Architecture:
    """A registered architecture and what the seed claims about it.

    Attributes:
      name: registry name.
      module: the `flax.linen.Module` class.
      path_length: the seed's gradient path length class, e.g. ``"O(T)"``,
        ``"O(T) but additive"``, ``"O(T/k)"``, ``"O(log T)"``, ``"O(1)"``.
      parallel: parallelisable over time: ``"no"``, ``"partially"`` or ``"yes"``.
      paper: where its equations come from.
      choices: option name -> tuple of valid values, for enumerated options.
      validate: optional ``options -> None`` raising `ValueError` for invalid values.
      claim: one line of the seed's claim (or the paper's) about its gradient flow.
      probe_is_state: True when the probe is the carried state at the perturbation
        site (so ``∂h_{T-1}/∂h_{T-1} = I``); False when the probe is an output
        computed from it (Transformer, dilated convolution, attention read-out).
      recurrent_params: names of the parameter leaves that set the recurrence
        (``W_hh`` and its kin), whose gradient norm the seed's experiment reports;
        empty for models without a recurrence. Such models accept ``truncate=k``.
      build: ``(hidden_size=..., **options) -> Module`` when the module is not
        built as ``module(hidden_size=..., **options)`` (a wrapped flax cell).
      option_defaults: the options, when they are not the module's fields.
    """

    name: str
    module: type[nn.Module]
    path_length: str
    parallel: str
    paper: str
    choices: Mapping[str, tuple[Any, ...]] = dataclasses.field(default_factory=dict)
    validate: Callable[[dict[str, Any]], None] | None = None
    claim: str = ""
    probe_is_state: bool = True
    recurrent_params: tuple[str, ...] = ()
    build: Callable[..., nn.Module] | None = None
    option_defaults: Mapping[str, Any] | None = None

    @property
    def options(self) -> dict[str, Any]:
        """Option name -> default value (``dataclasses.MISSING`` when required)."""
        if self.option_defaults is not None:
            return dict(self.option_defaults)
        return {
            f.name: f.default
            for f in dataclasses.fields(self.module)
            if f.init and f.name not in _MODULE_INTERNALS
        }


_REGISTRY: dict[str, Architecture] = {}


def register(
    name: str,
    *,
    path_length: str,
    parallel: str,
    paper: str,
    choices: Mapping[str, tuple[Any, ...]] | None = None,
    validate: Callable[[dict[str, Any]], None] | None = None,
    claim: str = "",
    probe_is_state: bool = True,
    recurrent_params: tuple[str, ...] = (),
):
    """Class decorator adding a Module class to the registry under ``name``."""
    if parallel not in ("no", "partially", "yes"):
        raise ValueError(f"parallel={parallel!r}; valid: 'no', 'partially', 'yes'")

    def decorator(module_cls: type[nn.Module]) -> type[nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"architecture {name!r} is already registered")
        _REGISTRY[name] = Architecture(
            name=name,
            module=module_cls,
            path_length=path_length,
            parallel=parallel,
            paper=paper,
            choices=dict(choices or {}),
            validate=validate,
            claim=claim,
            probe_is_state=probe_is_state,
            recurrent_params=tuple(recurrent_params),
        )
        return module_cls

    return decorator


def available() -> list[str]:
    """The registered architecture names, sorted."""
    return sorted(_REGISTRY)


def info(name: str) -> Architecture:
    """The `Architecture` record of ``name``; `ValueError` listing the names if unknown.

    Besides the registered names, ``name`` may be an import string:
    ``"flax:OptimizedLSTMCell"`` (a `flax.linen` cell class, built with
    ``features=hidden_size``), ``"nnx:package.module:Name"`` / ``"eqx:package.module:Name"``
    (a Flax NNX or equinox cell) or ``"package.module:Name"`` (a seqgrad-style Module,
    a flax cell or an NNX cell), see `seqgrad.models.imported`.
    """
    if name in _REGISTRY:
        return _REGISTRY[name]
    if isinstance(name, str) and ":" in name:
        from seqgrad.models import imported  # imports flax cells lazily

        return imported.architecture(name)
    raise ValueError(
        f"unknown architecture {name!r}; valid choices: {available()} "
        "or an import string 'flax:CellName' / 'nnx:package.module:Name' / 'eqx:package.module:Name' / "
        "'package.module:Name'"
    )


def check_positive(options: Mapping[str, Any], *keys: str) -> None:
    """Raises `ValueError` unless every present ``options[key]`` is a positive int."""
    for key in keys:
        if key in options:
            value = options[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{key}={value!r} is invalid: it must be a positive integer")


def check_bool(options: Mapping[str, Any], *keys: str) -> None:
    """Raises `ValueError` unless every present ``options[key]`` is a bool."""
    for key in keys:
        if key in options and not isinstance(options[key], bool):
            raise ValueError(f"{key}={options[key]!r} is invalid: valid choices: [True, False]")


def check_heads(name: str, options: Mapping[str, Any]) -> None:
    """Raises `ValueError` unless ``num_heads`` (given or default) is positive and divides ``hidden_size``."""
    check_positive(options, "num_heads")
    opts = {**info(name).options, **options}
    if opts["hidden_size"] % opts["num_heads"]:
        raise ValueError(
            f"num_heads={opts['num_heads']!r} is invalid for {name!r} with hidden_size={opts['hidden_size']!r}: "
            "it must divide hidden_size"
        )


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
