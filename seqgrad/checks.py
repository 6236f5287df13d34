"""The one family of value checks behind every config boundary of seqgrad.

Each check raises a one-line `ValueError` naming the key, the value and what is
valid, in one wording everywhere:

    positive_int("train.steps", 0)          train.steps=0 is invalid: it must be an integer >= 1
    positive("optim.learning_rate", 0.0)    optim.learning_rate=0.0 is invalid: it must be a number > 0
    choice("optim.clip", "norm", CLIPS)     optim.clip='norm' is unknown; valid choices: [...]
    fraction("optim.b1", 1.0)               optim.b1=1.0 is invalid: it must lie in [0, 1)

Numbers must be real, not bool, and finite (NaN and inf are refused by `positive`
and `fraction`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

__all__ = ["is_number", "positive_int", "positive", "choice", "fraction", "finite"]


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
