"""Dotted config keys: the one place that reads and writes ``"a.b.c"`` in a config.

Works on `ml_collections.ConfigDict` and on plain nested dicts alike.

* `get(config, "model.options.forget_bias")` -> the value; a `KeyError` naming the key
  when a part is absent, or ``default`` when one is given.
* `has(config, key)` -> bool.
* `set(config, key, value)`: in place; a locked ConfigDict rejects an unknown leaf, and
  the error is a one-line `ValueError` naming the key and the value.
* `with_overrides(config, {key: value})`: a deep copy with every override set.
* `flatten(config)` -> ``{"a.b.c": leaf}`` (tuples as lists), the form saved in a
  workdir's ``config.json`` and compared on resume.

Use these instead of splitting keys on ``"."`` by hand.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = ["get", "has", "set", "with_overrides", "flatten"]

_MISSING = object()
_ABSENT = object()


def get(config, key: str, default: Any = _MISSING) -> Any:
    """``config.a.b.c`` for ``key = "a.b.c"``; ``default`` (or `KeyError`) when absent."""
    node = config
    for part in key.split("."):
        try:
            node = node[part]
        except (KeyError, AttributeError, TypeError, IndexError):
            if default is _MISSING:
                raise KeyError(f"config has no key {key!r}") from None
            return default
    return node


def has(config, key: str) -> bool:
    """True when every part of ``key`` exists in ``config``."""
    return get(config, key, _ABSENT) is not _ABSENT


def set(config, key: str, value: Any) -> None:  # noqa: A001 (shadows the builtin in this module only)
    """Sets ``config.a.b.c = value`` in place; one-line `ValueError` when a part is absent or locked."""
    *parents, leaf = key.split(".")
    node = config
    try:
        for part in parents:
            node = node[part]
        node[leaf] = value
    except (AttributeError, KeyError, TypeError) as e:
        detail = e.args[0] if isinstance(e, KeyError) and e.args else e
        raise ValueError(f"cannot set config key {key!r} to {value!r}: {detail}") from None


def with_overrides(config, overrides: Mapping[str, Any]):
    """A deep copy of ``config`` with every dotted key of ``overrides`` set (in order)."""
    config = copy.deepcopy(config)
    for key, value in overrides.items():
        set(config, key, value)
    return config


def flatten(config) -> dict[str, Any]:
    """``{"a.b.c": value}`` for every leaf of a nested dict or ConfigDict (tuples as lists)."""
    tree = config.to_dict() if hasattr(config, "to_dict") else config
    flat: dict[str, Any] = {}

    def walk(node, prefix):
        for key, value in node.items():
            path = f"{prefix}{key}"
            if isinstance(value, Mapping):
                walk(value, path + ".")
            else:
                flat[path] = list(value) if isinstance(value, tuple) else value

    walk(tree, "")
    return flat

