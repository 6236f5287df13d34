"""Name -> architecture registry: the `Architecture` record (what the page claims about it, its optional
measures) and the `register` decorator every architecture module applies to its class; what the page claims
about a built-in architecture is its row of `seqgrad.models.page_claims`.

    >>> from seqgrad import models
    >>> models.available()[:3]
    ['attention_rnn', 'dilated_conv', 'gru']

`seqgrad.models.catalog` builds a registered name or an import string and checks its options.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import flax.linen as nn

from seqgrad.models.page_claims import PAGE_CLAIMS, PageClaims

# Fields every flax Module carries that are not user options.
_MODULE_INTERNALS = frozenset({"parent", "name"})


class _Required:
    """The default of an option that has none and must be given (``hidden_size``): prints as ``REQUIRED``.

    One instance, `REQUIRED`, kept by copying and pickling, so ``value is REQUIRED`` always tests it."""

    _instance: _Required | None = None

    def __new__(cls) -> _Required:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "REQUIRED"

    def __reduce__(self):
        return (_Required, ())

    def __copy__(self) -> _Required:
        return self

    def __deepcopy__(self, memo) -> _Required:
        return self


REQUIRED = _Required()


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
      state_jacobian_bound: optional ``(model, params, site) -> ρ``, a proven bound
        ``‖∂h_{T-1}/∂h_{T-1-d}‖_∞ ≤ ρ^d`` for every d and input (coRNN); the main
        job records ln ρ as ``log_bound`` and checks the measured ∞-norms against it.
      state_variance_ratio: optional ``(model, params, xs [I, T, D]) -> ratio``,
        the state's variance over the second half against its closed form (RG-LRU); the main
        job records it as ``variance_ratio``.
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
    state_jacobian_bound: Callable[..., Any] | None = None
    state_variance_ratio: Callable[..., Any] | None = None

    @property
    def options(self) -> dict[str, Any]:
        """Option name -> default value; `REQUIRED` (it prints so) for an option without one, such as
        ``hidden_size``. `required_options` names those."""
        if self.option_defaults is not None:
            defaults = dict(self.option_defaults)
        else:
            defaults = {f.name: f.default for f in dataclasses.fields(self.module)
                        if f.init and f.name not in _MODULE_INTERNALS}
        return {k: REQUIRED if v is dataclasses.MISSING else v for k, v in defaults.items()}

    @property
    def required_options(self) -> tuple[str, ...]:
        """The options without a default (``hidden_size`` and any the class itself requires)."""
        return tuple(k for k, v in self.options.items() if v is REQUIRED)


_REGISTRY: dict[str, Architecture] = {}


def register(
    name: str,
    *,
    path_length: str | None = None,
    parallel: str | None = None,
    paper: str | None = None,
    claim: str | None = None,
    choices: Mapping[str, tuple[Any, ...]] | None = None,
    validate: Callable[[dict[str, Any]], None] | None = None,
    probe_is_state: bool = True,
    recurrent_params: tuple[str, ...] = (),
    state_jacobian_bound: Callable[..., Any] | None = None,
    state_variance_ratio: Callable[..., Any] | None = None,
):
    """Class decorator adding a Module class to the registry under ``name``.

    ``path_length``, ``parallel``, ``paper`` and ``claim`` (the `Architecture` fields) of a built-in
    architecture are its row ``PAGE_CLAIMS[name]`` (`seqgrad.models.page_claims`) and are not given here;
    an architecture defined elsewhere gives ``path_length``, ``parallel`` and ``paper`` (``claim`` optional).
    """
    page = _page_claims(name, path_length=path_length, parallel=parallel, paper=paper, claim=claim)
    if page.parallel not in ("no", "partially", "yes"):
        raise ValueError(f"parallel={page.parallel!r}; valid: 'no', 'partially', 'yes'")

    def decorator(module_cls: type[nn.Module]) -> type[nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"architecture {name!r} is already registered")
        _REGISTRY[name] = Architecture(
            name=name,
            module=module_cls,
            path_length=page.path_length,
            parallel=page.parallel,
            paper=page.paper,
            choices=dict(choices or {}),
            validate=validate,
            claim=page.claim,
            probe_is_state=probe_is_state,
            recurrent_params=tuple(recurrent_params),
            state_jacobian_bound=state_jacobian_bound,
            state_variance_ratio=state_variance_ratio,
        )
        return module_cls

    return decorator


def _page_claims(name: str, **given: str | None) -> PageClaims:
    """The texts `register` records for ``name``: its row of `PAGE_CLAIMS`, or the ones given (not both)."""
    texts = {key: value for key, value in given.items() if value is not None}
    if name in PAGE_CLAIMS:
        if texts:
            raise ValueError(
                f"architecture {name!r} has its row in seqgrad.models.page_claims.PAGE_CLAIMS: "
                f"register takes no {', '.join(texts)} for it"
            )
        return PAGE_CLAIMS[name]
    missing = [key for key in ("path_length", "parallel", "paper") if key not in texts]
    if missing:
        raise TypeError(f"register({name!r}) needs {', '.join(missing)}: {name!r} has no row in PAGE_CLAIMS")
    return PageClaims(**texts)


def available() -> list[str]:
    """The registered architecture names, sorted."""
    return sorted(_REGISTRY)


def registered(name: str) -> Architecture:
    """The `Architecture` record of the registered name ``name``; `ValueError` listing the names if unknown
    (`seqgrad.models.catalog.info` also resolves import strings)."""
    if name in _REGISTRY:
        return _REGISTRY[name]
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


def check_real(options: Mapping[str, Any], key: str, *, examples: str) -> None:
    """Raises `ValueError` unless ``options[key]`` (if present) is a real number (not a bool); the message shows
    ``examples`` (e.g. ``"1.0 or 0.0"``)."""
    value = options.get(key, 0.0)  # absent: the default, a real number
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{key}={value!r} is invalid: it must be a real number (e.g. {examples})")


def check_bool(options: Mapping[str, Any], *keys: str) -> None:
    """Raises `ValueError` unless every present ``options[key]`` is a bool."""
    for key in keys:
        if key in options and not isinstance(options[key], bool):
            raise ValueError(f"{key}={options[key]!r} is invalid: valid choices: [True, False]")


def check_heads(name: str, options: Mapping[str, Any]) -> None:
    """Raises `ValueError` unless ``num_heads`` (given or default) is positive and divides ``hidden_size``."""
    check_positive(options, "num_heads")
    opts = {**registered(name).options, **options}
    if opts["hidden_size"] % opts["num_heads"]:
        raise ValueError(
            f"num_heads={opts['num_heads']!r} is invalid for {name!r} with hidden_size={opts['hidden_size']!r}: "
            "it must divide hidden_size"
        )
