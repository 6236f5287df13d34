"""The one family of value checks behind every config boundary of seqgrad.

Each check raises a one-line `ValueError` naming the key, the value and what is
valid, in one wording everywhere:

    positive_int("train.steps", 0)          train.steps=0 is invalid: it must be an integer >= 1
    positive("optim.learning_rate", 0.0)    optim.learning_rate=0.0 is invalid: it must be a number > 0
    choice("optim.clip", "norm", CLIPS)     optim.clip='norm' is unknown; valid choices: [...]
    fraction("optim.b1", 1.0)               optim.b1=1.0 is invalid: it must lie in [0, 1)

Numbers must be real, not bool, and finite (NaN and inf are refused by `positive`
and `fraction`).

`number` is the general form (a finite number in an interval), `all_finite` walks a
whole config (every number under it, lists included, must be finite: NaN, ±inf and
an overflowing literal such as ``1e400`` are refused with their dotted key), and
`in_ranges` applies a table of intervals (`Range`) to the keys of a config that
hold numbers: `MODEL_OPTION_RANGES` for the architectures' float options,
`ANALYSIS_RANGES` for the thresholds and scales of the gradient-flow analysis.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["is_number", "positive_int", "positive", "choice", "fraction", "finite", "number", "Range",
           "all_finite", "in_ranges", "config_numbers", "model_options", "MODEL_OPTION_RANGES", "ANALYSIS_RANGES"]


def is_number(value: Any) -> bool:
    """A real number that is not a bool (NaN and inf included)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def positive_int(key: str, value: Any, minimum: int = 1, reason: str = "") -> None:
    """``value`` is an int >= ``minimum``; ``reason`` is added in parentheses."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        why = f" ({reason})" if reason else ""
        raise ValueError(f"{key}={value!r} is invalid: it must be an integer >= {minimum}{why}")


def finite(key: str, value: Any) -> None:
    """A number that is NaN or ±inf is refused (anything else passes)."""
    if is_number(value) and not math.isfinite(value):
        raise ValueError(f"{key}={value!r} is invalid: it must be a finite number")


def positive(key: str, value: Any, allow_zero: bool = False) -> None:
    """``value`` is a finite number > 0 (>= 0 with ``allow_zero``)."""
    finite(key, value)
    if not is_number(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{key}={value!r} is invalid: it must be a number {bound}")


def fraction(key: str, value: Any, *, closed: bool = False, reason: str = "") -> None:
    """``value`` lies in [0, 1) ([0, 1] with ``closed``)."""
    if not is_number(value) or not math.isfinite(value) or not 0 <= value <= 1 or (value == 1 and not closed):
        why = f" ({reason})" if reason else ""
        raise ValueError(f"{key}={value!r} is invalid: it must lie in [0, 1{']' if closed else ')'}{why}")


def choice(key: str, value: Any, choices: Iterable[Any]) -> None:
    """``value`` is one of ``choices``."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"{key}={value!r} is unknown; valid choices: {choices}")


@dataclasses.dataclass(frozen=True)
class Range:
    """The interval a number must lie in; None: unbounded; ``*_open``: the bound is excluded."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    reason: str = ""

    def contains(self, value: float) -> bool:
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (self.high_open and value == self.high)))

    def __str__(self) -> str:
        if self.high is None:
            return "any finite number" if self.low is None else f"a finite number {'>' if self.low_open else '>='} {self.low:g}"
        if self.low is None:
            return f"a finite number {'<' if self.high_open else '<='} {self.high:g}"
        return (f"a finite number in {'(' if self.low_open else '['}{self.low:g}, "
                f"{self.high:g}{')' if self.high_open else ']'}")


def number(key: str, value: Any, valid: Range = Range()) -> None:
    """``value`` is a real, finite number inside ``valid``."""
    if not is_number(value) or not math.isfinite(value) or not valid.contains(value):
        why = f" ({valid.reason})" if valid.reason else ""
        raise ValueError(f"{key}={value!r} is invalid: it must be {valid}{why}")


def all_finite(tree: Any, prefix: str) -> None:
    """Every number in ``tree`` (a ConfigDict, mapping, list or tuple, nested) is finite;
    the error names its dotted key (list items as ``key[i]``)."""
    if hasattr(tree, "to_dict") and not isinstance(tree, Mapping):
        tree = tree.to_dict()
    if isinstance(tree, Mapping) or hasattr(tree, "items"):
        for key, value in tree.items():
            all_finite(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(tree, (list, tuple)):
        for i, value in enumerate(tree):
            if is_number(value) and not math.isfinite(value):
                raise ValueError(f"{prefix}={list(tree)!r} is invalid: item {i} is {value!r}; every item must be "
                                 "a finite number")
            all_finite(value, f"{prefix}[{i}]")
    else:
        finite(prefix, tree)


def in_ranges(config: Any, ranges: Mapping[str, Range], prefix: str = "") -> None:
    """Each dotted key of ``ranges`` present in ``config`` holds a number (or a list of
    numbers) inside its `Range`; absent keys are skipped."""
    for key, valid in ranges.items():
        node, found = config, True
        for part in key.split("."):
            try:
                node = node[part]
            except (KeyError, TypeError, AttributeError):
                found = False
                break
        if not found:
            continue
        name = f"{prefix}.{key}" if prefix else key
        for i, value in enumerate(node) if isinstance(node, (list, tuple)) else [(None, node)]:
            number(name if i is None else f"{name}[{i}]", value, valid)


# Float options of the registered architectures that have a natural range (every other
# number option only has to be finite). Keys are option names, whatever the architecture.
MODEL_OPTION_RANGES = {
    "recurrent_scale": Range(0.0, reason="the scale of the recurrent weights at initialisation"),
    "residual_scale": Range(0.0, reason="the weight of the residual branch"),
    "max_recurrent": Range(0.0, reason="bound on |u|; 0: none"),
    "max_phase": Range(0.0, low_open=True, reason="the largest eigenvalue phase, in radians"),
    "c": Range(0.0, low_open=True, reason="the exponent of the RG-LRU gate"),
    "positional_base": Range(1.0, low_open=True, reason="the base of the sinusoidal positions"),
    "dt": Range(0.0, low_open=True), "dt_min": Range(0.0, low_open=True), "dt_max": Range(0.0, low_open=True),
    "gamma": Range(0.0), "epsilon": Range(0.0),
    "r_min": Range(0.0, 1.0), "r_max": Range(0.0, 1.0), "a_min": Range(0.0, 1.0), "a_max": Range(0.0, 1.0),
}


def model_options(options: Mapping[str, Any], prefix: str = "") -> None:
    """Every number among an architecture's ``options`` is finite, and inside its
    `MODEL_OPTION_RANGES` interval when it has one; keys are named ``prefix.key``."""
    for key, value in options.items():
        if is_number(value):
            number(f"{prefix}.{key}" if prefix else key, value, MODEL_OPTION_RANGES.get(key, Range()))


def config_numbers(config: Any, ranges: Mapping[str, Range], prefix: str = "config") -> None:
    """`in_ranges` with ``ranges`` (a bad value names its range), then `all_finite` over
    the whole ``config``."""
    in_ranges(config, ranges, prefix)
    all_finite(config, prefix)


# Thresholds and scales of the gradient-flow analysis (`experiments/gradient_flow.py`).
ANALYSIS_RANGES = {
    "default_input_scale": Range(0.0, low_open=True),  # conditions.input_scale: `conditions.validate`
    "regime.growth": Range(1.0, low_open=True, reason="exploding: the norm reaches growth·‖J(1)‖"),
    "regime.preserved": Range(0.0, 1.0, low_open=True, reason="the ratio rule and the dilated per-level factor"),
    "regime.timescale": Range(0.0, low_open=True, reason="preserved: |rate| <= 1/timescale per step"),
    "regime.rebound_decades": Range(0.0, low_open=True),
    "shape.min_r2": Range(0.0, 1.0),
    "shape.plateau_decades": Range(0.0, low_open=True),
    "underflow_margin_decades": Range(0.0),
    "trained.gate_threshold": Range(0.0, 1.0, low_open=True, high_open=True),
    "claims.dominance": Range(0.0, 1.0),
    "claims.prediction_tolerance": Range(0.0),
    "claims.dilution_tolerance": Range(1.0),
    "claims.orthogonal_sigma_tolerance": Range(0.0),
    "claims.bound_tolerance": Range(0.0),
    "claims.variance_ratio_low": Range(0.0),
    "claims.variance_ratio_high": Range(0.0),
    "claims.expansion_tolerance": Range(0.0),
}
