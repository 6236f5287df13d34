"""Verdicts: one claim's verdict per condition, how verdicts combine, and the overall verdict they imply.

A claim (`seqgrad.report.claims`) is evaluated on the `Subject` of each entry it
names under one condition: the entry's options and receptive field with its
`Measures` there. The overall verdict is ``confirmed`` or ``refuted`` (or
``qualified``, ``not measured``) only when every condition gives it; otherwise
``depends``, with ``depends_on`` naming each grid axis (``input_scale``, ``T``)
along which two conditions that differ only on that axis disagree.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from seqgrad.report.record import ClaimRow, Condition, ConditionVerdict, Measures

CONFIRMED, REFUTED, QUALIFIED, NOT_MEASURED, DEPENDS = "confirmed", "refuted", "qualified", "not measured", "depends"
INCONCLUSIVE = "inconclusive"  # the margin to the threshold lies inside the spread over initialisations and inputs
VERDICTS = (CONFIRMED, REFUTED, QUALIFIED, INCONCLUSIVE, NOT_MEASURED)
AXES = ("input_scale", "T")


@dataclasses.dataclass(frozen=True)
class Subject:
    """What a claim reads about one entry under one condition."""

    options: Mapping[str, Any]
    receptive_field: int | None
    m: Measures


@dataclasses.dataclass(frozen=True)
class Claim:
    """A claim: its text, how it is tested, the measurement that would refute it, and its rule.

    ``refuted_if`` is a format string over the config (``{c.regime.preserved}``).

    ``rule(subjects, config) -> (verdict, measurement)``, ``subjects``: ``{name: Subject}``
    of the entries the claim names (all present), ``config`` the full analysis config.
    ``names(config)`` lists those entries.
    """

    claim: str
    test: Callable[[Any], str]
    refuted_if: str
    names: Callable[[Any], Sequence[str]]
    rule: Callable[[Mapping[str, Subject], Any], tuple[str, str]]
    on_page: bool = True  # False: a claim of a later paper, tested beside the page's (marked as such)


def within_spread(margin: float, spread: float) -> bool:
    """True where a margin to a threshold is no larger than the spread of the measured quantity over
    initialisations and inputs: the verdict would flip inside the noise, so it is `INCONCLUSIVE`."""
    return math.isfinite(margin) and math.isfinite(spread) and abs(margin) <= spread


def by_margin(margin: float, spread: float) -> str:
    """The verdict of a margin to a threshold (> 0: the claim holds): `INCONCLUSIVE` inside the spread
    (`within_spread`), else `CONFIRMED` or `REFUTED` by its sign; a nan margin is `NOT_MEASURED`."""
    if math.isnan(margin):
        return NOT_MEASURED
    if within_spread(margin, spread):
        return INCONCLUSIVE
    return CONFIRMED if margin > 0 else REFUTED


def worst(verdicts: Sequence[str]) -> str:
    """The verdict of several entries (or parts) together: refuted, inconclusive, qualified, not measured,
    in that order, before confirmed."""
    for v in (REFUTED, INCONCLUSIVE, QUALIFIED, NOT_MEASURED):
        if v in verdicts:
            return v
    return CONFIRMED


def g(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a" if value is None or math.isnan(value) else str(value)
    return f"{value:.3g}"


def subjects(architectures: Mapping, names: Sequence[str], condition: Condition) -> dict[str, Subject]:
    return {n: Subject(architectures[n].options, architectures[n].receptive_field, architectures[n].at(condition))
            for n in names}


def overall(by_condition: Sequence[ConditionVerdict]) -> tuple[str, list[str]]:
    """``(verdict, depends_on)``: the common verdict, or ``depends`` and the axes along which it changes."""
    verdicts = {v.verdict for v in by_condition}
    if len(verdicts) <= 1:
        return (verdicts.pop() if verdicts else NOT_MEASURED), []
    axes = []
    for axis in AXES:
        for a in by_condition:
            for b in by_condition:
                same_rest = all(getattr(a.condition, o) == getattr(b.condition, o) for o in AXES if o != axis)
                if same_rest and a.verdict != b.verdict and axis not in axes:
                    axes.append(axis)
    return DEPENDS, axes or list(AXES)


def evaluate_claim(claim: Claim, architectures: Mapping, config, grid: Sequence[Condition],
                   default: Condition) -> ClaimRow:
    names = list(claim.names(config))
    missing = [n for n in names if n not in architectures]
    test = claim.test(config)
    if missing:
        rows = [ConditionVerdict(c, NOT_MEASURED, f"missing entries {missing}") for c in grid]
    else:
        rows = [ConditionVerdict(c, *claim.rule(subjects(architectures, names, c), config)) for c in grid]
    verdict, depends_on = overall(rows)
    at_default = next((r.measurement for r in rows if r.condition == default), rows[0].measurement if rows else "")
    return ClaimRow(claim=claim.claim, test=test, measurement=at_default, verdict=verdict,
                    refuted_if=claim.refuted_if.format(c=config), by_condition=rows, depends_on=depends_on,
                    on_page=claim.on_page)
