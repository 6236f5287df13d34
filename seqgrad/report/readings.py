"""What the claims' rules read from a `Subject`: its regime rate, that rate's spread, the preserved threshold,
a one-line description, and the split of a claim's entries into those tested and the vanilla baseline.

The numbers are medians over initialisations × inputs from the typed record
(`seqgrad.report.record.Measures`): the regime of the median profile (vanishing /
preserved / exploding / power-law decay / cut off), the envelope rate and its fit
quality, the memory horizon (last d above the threshold). "Not vanishing" is
supported only by a *preserved* regime: growth is growth.
"""

from __future__ import annotations

from collections.abc import Mapping

from seqgrad.report.verdicts import Subject, g

S = Mapping[str, Subject]


def rate(s: Subject) -> float:
    """The regime's per-step rate: the envelope rate of the median profile (`decay.classify`)."""
    return float(s.m.shape.get("rate", s.m.decay_rate.median))


def spread(s: Subject) -> float:
    """Interquartile range of the per-sequence envelope rates (seeds × inputs): the noise a margin must beat."""
    r = s.m.regime_rate
    return float(r.q75 - r.q25) if r is not None else float("nan")


def flat_rate(config) -> float:
    """``1/config.regime.timescale``: the largest |rate| (nats/step) that counts as preserved."""
    return 1.0 / float(config.regime.timescale)


def describe(name: str, s: Subject) -> str:
    """``name: regime, rate [IQR] (shape, r²), horizon``."""
    h = s.m.memory_horizon.median
    horizon = f"> {s.m.T - 1}" if h >= s.m.T else g(h)
    cut = s.m.shape.get("cut_off_distance")
    return (f"{name}: {s.m.regime}, rate {g(rate(s))}/step [IQR {g(spread(s))}] ({s.m.shape['shape']}, "
            f"r² {g(s.m.shape['r2'])}{'' if cut is None else f', exactly 0 from d = {cut}'}), horizon {horizon}")


def ticks(names) -> str:
    """```a`, `b``: entry names as Markdown code."""
    return ", ".join(f"`{n}`" for n in names)


def against_baseline(s: S) -> tuple[list[tuple[str, Subject]], Subject]:
    """``([(name, subject) of the tested entries], the baseline)``: a claim's last entry is the vanilla RNN
    it is compared with."""
    names = list(s)
    return [(n, s[n]) for n in names[:-1]], s[names[-1]]
