"""Entries of the main job named on the command line: ``--config.extra_entries="A,B[key=value;...]"``.

    scripts/analyze.py --config=experiments/gradient_flow.py:lstm \
        --config.extra_entries="nnx:flax.nnx:LSTMCell,tests.nnx_cells:Leaky[leak=0.3]"

Each comma-separated item is an architecture name (a registered one or an import
string: ``"nnx:package.module:Name"``, ``"eqx:package.module:Name"``,
``"package.module:Name"``, ``"flax:Name"``, see `seqgrad.models.imported`),
optionally followed by its options in brackets, ``;``-separated ``key=value``
pairs whose values are Python literals (a bare word is a string). Each item
becomes an entry of its own, named after the item as written, with the
perturbation site ``"hidden"``, analysed with every measure of the grid like the
entries of ``config.entries``. A bad item is a one-line `ValueError` naming it.
"""

from __future__ import annotations

import ast
import re

import ml_collections

from seqgrad import models

__all__ = ["parse", "entries"]

_ITEM = re.compile(r"^(?P<arch>[^\[\]]+?)(?:\[(?P<options>[^\[\]]*)\])?$")


def _split_items(text: str) -> list[str]:
    """``text`` split at the commas outside brackets, items stripped, empty ones dropped."""
    items, depth, current = [], 0, ""
    for char in text:
        depth += (char == "[") - (char == "]")
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    return [item.strip() for item in [*items, current] if item.strip()]


def _value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse(text: str) -> dict[str, dict]:
    """``{item: {"arch", "site", "init", "workdir", "options"}}`` for every item of ``text`` (see the module docstring).

    Raises:
      ValueError: an item that is not ``NAME`` or ``NAME[key=value;...]``, or names no architecture.
    """
    out = {}
    for item in _split_items(text or ""):
        match = _ITEM.match(item)
        pairs = [] if match is None or not match["options"] else [p for p in match["options"].split(";") if p.strip()]
        if match is None or any("=" not in pair for pair in pairs):
            raise ValueError(f"config.extra_entries: {item!r} is invalid: an item reads NAME or NAME[key=value;...]")
        arch = match["arch"].strip()
        options = {key.strip(): _value(value.strip()) for key, value in (pair.split("=", 1) for pair in pairs)}
        try:
            models.info(arch)  # options are checked where the entry's model is built
        except ValueError as err:
            raise ValueError(f"config.extra_entries: {item!r}: {err}") from None
        out[item] = {"arch": arch, "site": "hidden", "init": "", "workdir": "", "options": options}
    return out


def entries(config) -> list[tuple[str, ml_collections.ConfigDict]]:
    """``(name, spec)`` of every entry of the analysis ``config``: ``config.entries``, then the extra ones.

    Raises:
      ValueError: a bad ``config.extra_entries`` item, or one named like an entry of ``config.entries``.
    """
    extra = parse(config.get("extra_entries", "") or "")
    clash = sorted(set(extra) & set(config.entries))
    if clash:
        raise ValueError(f"config.extra_entries: {clash} already name entries of config.entries")
    return [*config.entries.items(), *((name, ml_collections.ConfigDict(spec)) for name, spec in extra.items())]
