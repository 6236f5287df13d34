"""The one model spec of seqgrad: ``{name, hidden_size, options}``, in training and analysis.

Training reads ``config.model`` (``model.name``, ``model.hidden_size``,
``model.options``); an analysis entry (``experiments/gradient_flow.py``) is the same
shape, where the older key ``arch`` is accepted as an alias of ``name``.

* `normalize(spec, where=...)` -> `ModelSpec`: accepts ``name`` or ``arch`` (the same
  value twice is fine; two different values are a one-line `ValueError`), checks the
  name against the registry, and returns a frozen record.
* `split_options(name, options)` -> ``(taken, dropped)``: the options architecture
  ``name`` takes, and the others. Switching architecture by override
  (``--config.model.name=gru`` on an LSTM experiment) leaves the LSTM's options in
  ``model.options``; `for_model` drops them with a logged note, unless they are named
  in ``explicit`` (set on purpose by the user: the command line, a sweep point), where
  an option the architecture does not take is a one-line `ValueError`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from seqgrad import models

log = logging.getLogger(__name__)

__all__ = ["ModelSpec", "normalize", "split_options", "for_model"]


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A model to build: ``models.create(name, hidden_size=hidden_size, **options)``."""

    name: str
    hidden_size: int | None
    options: dict[str, Any]


def _get(spec, key: str, default=None):
    try:
        value = spec[key]
    except (KeyError, AttributeError, TypeError):
        return default
    return default if value is None else value


def normalize(spec: Mapping[str, Any], *, where: str = "model", hidden_size: int | None = None) -> ModelSpec:
    """``spec`` (a dict or ConfigDict with ``name`` or its alias ``arch``, and optional
    ``hidden_size`` and ``options``) as a `ModelSpec`; ``where`` names it in errors.

    Raises:
      ValueError: both ``name`` and ``arch`` given with different values, neither given,
        or an unknown architecture (the message lists the valid ones).
    """
    name, alias = _get(spec, "name", ""), _get(spec, "arch", "")
    if name and alias and name != alias:
        raise ValueError(f"{where}: name={name!r} and arch={alias!r} conflict (arch is an alias of name); give one")
    chosen = name or alias
    if not chosen:
        raise ValueError(f"{where}.name is missing; valid choices: {models.available()}")
    if chosen not in models.available() and ":" not in chosen:
        raise ValueError(f"{where}.name={chosen!r} is unknown; valid choices: {models.available()}")
    if ":" in chosen:  # an import string ("flax:GRUCell", "package.module:Name")
        try:
            models.info(chosen)
        except ValueError as e:
            raise ValueError(f"{where}.name={chosen!r}: {e}") from None
    options = _get(spec, "options", {})
    options = dict(options.to_dict() if hasattr(options, "to_dict") else options)
    return ModelSpec(chosen, _get(spec, "hidden_size", hidden_size), options)


def split_options(name: str, options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(taken, dropped)``: the entries of ``options`` architecture ``name`` takes, and the rest.

    An option of the same name whose value is not among ``name``'s choices but is a valid
    choice of another architecture (``activation="tanh"``: rnn's, not mingru's ``linear |
    g``) was set for that other architecture and is not taken either; a value valid
    nowhere stays, so that validation reports it.
    """
    arch = models.info(name)
    valid, choices = arch.options, arch.choices

    def takes(key, value):
        if key not in valid or key == "hidden_size":
            return False
        return key not in choices or value in choices[key] or not _valid_elsewhere(key, value)

    taken = {k: v for k, v in options.items() if takes(k, v)}
    dropped = {k: v for k, v in options.items() if k not in taken}
    return taken, dropped


def _valid_elsewhere(key: str, value: Any) -> bool:
    """True when some registered architecture lists ``value`` among its choices of option ``key``."""
    return any(value in models.info(n).choices.get(key, ()) for n in models.available())


def for_model(name: str, options: Mapping[str, Any], *, where: str = "model.options",
              explicit: Iterable[str] | Mapping[str, Any] = (), note: bool = False) -> dict[str, Any]:
    """The options of ``options`` that ``name`` takes.

    Args:
      explicit: the options the user set on purpose (names, or ``{name: value}``); one
        that ``name`` does not take, or with a value outside its choices, raises a
        one-line `ValueError` instead of being dropped.
      note: log the dropped options (once per run: the caller decides).
    """
    taken, dropped = split_options(name, options)
    explicit = explicit if isinstance(explicit, Mapping) else {k: options.get(k) for k in explicit}
    for key, value in sorted(explicit.items()):
        if key in options and key not in dropped:
            continue
        arch = models.info(name)
        if key in arch.options:
            if key in arch.choices and value not in arch.choices[key]:
                raise ValueError(f"{where}.{key}={value!r} is invalid for architecture {name!r}; "
                                 f"valid choices: {list(arch.choices[key])}")
            continue
        valid = sorted(k for k in arch.options if k != "hidden_size")
        raise ValueError(f"{where}.{key}={value!r} was set, but architecture {name!r} "
                         f"takes no option {key!r}; valid options: {valid}")
    if dropped and note:
        log.warning("%s: architecture %r takes no option %s; dropped (left over from another architecture)",
                    where, name, ", ".join(f"{k}={v!r}" for k, v in sorted(dropped.items())))
    return taken
