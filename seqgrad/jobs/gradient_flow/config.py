"""Step 1 of the main job: the config's numbers checked, and what they mean for the windows.

`validate` raises one line naming the key, its value and what is valid, before anything
compiles. The windows: every input sequence is ``B + max(conditions.T)`` steps long
(`sequence_length`), ``B = config.burn_in`` (`burn_in`); every profile window ends at its
last step, so the window of length T is the last T steps (`computed_lengths`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

from seqgrad import checks
from seqgrad.gradflow.budget import METHODS
from seqgrad.gradflow.profile_summary import Thresholds
from seqgrad.jobs.gradient_flow import conditions
from seqgrad.report.record import Condition
from seqgrad.train import resources


def _positive_int(key: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"config.{key}={value!r} is invalid: it must be a positive integer")


def _get(config, key: str):
    for part in key.split("."):
        config = config[part]
    return config


def validate(config) -> None:
    """Raises a one-line `ValueError` for a bad number in ``config`` (entries aside): the job's own keys,
    then the ranges of `seqgrad.checks`, the grid (`conditions.validate`) and the memory estimate
    (`seqgrad.train.resources.check_analysis`)."""
    for key in ("T", "input_size", "hidden_size", "num_seeds", "num_inputs", "lyapunov.T",
                "lyapunov.num_exponents", "regime.block", "seed_experiment.max_length_by_definition"):
        _positive_int(key, _get(config, key))
    repeats = config.timing.repeats
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 0:
        raise ValueError(f"config.timing.repeats={repeats!r} is invalid: an integer >= 0 (0: no timing)")
    if not isinstance(config.get("quick_compile", False), bool):
        raise ValueError(f"config.quick_compile={config.quick_compile!r} is invalid; valid choices: [True, False]")
    n = config.get("workers", 0)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"config.workers={n!r} is invalid: an integer >= 0 (0: one per CPU core, at most 4)")
    n = config.get("sequence_batch", 0)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"config.sequence_batch={n!r} is invalid: an integer >= 0 (0: by architecture)")
    batch = config.seed_experiment.decomposition_batch
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 0:
        raise ValueError(f"config.seed_experiment.decomposition_batch={batch!r} is invalid: an integer >= 0")
    if config.T < 2:
        raise ValueError(f"config.T={config.T!r} is invalid: it must be >= 2")
    threshold = config.horizon_threshold
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold < 1:
        raise ValueError(f"config.horizon_threshold={config.horizon_threshold!r} is invalid: it must lie in (0, 1)")
    if config.method not in METHODS:
        raise ValueError(f"config.method={config.method!r} is invalid; valid choices: {list(METHODS)}")
    lyap_burn_in = config.lyapunov.burn_in
    if isinstance(lyap_burn_in, bool) or not isinstance(lyap_burn_in, int) or lyap_burn_in < -1:
        raise ValueError(f"config.lyapunov.burn_in={lyap_burn_in!r} is invalid: an integer >= 0, or -1 (config.burn_in)")
    if not lyapunov_burn_in(config) < config.lyapunov.T:
        raise ValueError(f"config.lyapunov.burn_in={lyap_burn_in!r} (steps: {lyapunov_burn_in(config)}) is "
                         f"invalid: it must be below lyapunov.T={config.lyapunov.T}")
    sketch = config.get("sketch")
    if sketch is not None:
        _positive_int("sketch.num_probes", sketch.num_probes)
        for key in ("num_singular", "remat_block"):
            value = sketch[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"config.sketch.{key}={value!r} is invalid: an integer >= 0 (0: off)")
    lengths = list(config.seed_experiment.lengths)
    if not lengths or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in lengths):
        raise ValueError(f"config.seed_experiment.lengths={lengths!r} is invalid: positive integers "
                         "(each condition of length T uses those up to T, and T)")
    B = config.get("burn_in", 0)
    if isinstance(B, bool) or not isinstance(B, int) or B < 0:
        raise ValueError(f"config.burn_in={B!r} is invalid: an integer >= 0 (0: profiles from the zero state)")
    checks.config_numbers(config, checks.ANALYSIS_RANGES)
    conditions.validate(config)
    resources.check_analysis(config)


@dataclasses.dataclass(frozen=True)
class Windows:
    """What the config means for every window the programs measure, computed once (`windows`).

    Every input sequence is ``sequence_length = B + max(lengths)`` steps long; after a burn-in of
    ``B`` steps every window of T steps ends at its last step, so only the longest window's stack is
    computed (``computed``); with B = 0 every length is a zero-state prefix of its own.
    """

    lengths: tuple[int, ...]  # the conditions' T, sorted
    burn_in: int  # B, config.burn_in
    sequence_length: int  # L = B + max(lengths)
    computed: tuple[int, ...]  # the windows whose stacks are computed
    lyapunov_burn_in: int  # steps before the Lyapunov exponents are recorded
    snippet: Mapping[int, tuple[int, ...]]  # T -> the lengths of the page's experiment at T

    def computed_for(self, lengths) -> tuple[int, ...]:
        """The windows computed for a subset ``lengths`` (the float64 recheck's suspect lengths)."""
        return _computed(lengths, self.burn_in)


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything the later steps read from the config beyond its plain values, derived once (`plan`)."""

    windows: Windows
    thresholds: Thresholds  # of every profile summary (`seqgrad.gradflow.profile_summary`)
    grid: tuple[Condition, ...]  # every condition, input scale major (`grid`)
    default: Condition  # the default condition (`default`)
    workers: int  # entries compiled at once (`workers`)


def plan(config) -> Plan:
    """The `Plan` of a validated ``config``."""
    return Plan(windows=windows(config), thresholds=thresholds(config), workers=workers(config),
                grid=tuple(grid(config)), default=default(config))


def grid(config) -> list[Condition]:
    """Every condition ``(input scale, T)``, input scale major: ``[(s, T) for s in scales for T in lengths]``."""
    return [Condition(float(s), int(T)) for s in config.conditions.input_scale for T in config.conditions.T]


def default(config) -> Condition:
    """The default condition ``(config.default_input_scale, config.T)``."""
    return Condition(float(config.default_input_scale), int(config.T))


def thresholds(config) -> Thresholds:
    """The profile summaries' `Thresholds`: ``config.decay_min_distance``, ``horizon_threshold``,
    ``regime.*`` and ``shape.*``."""
    r, s = config.regime, config.shape
    return Thresholds(
        min_distance=int(config.decay_min_distance), horizon=float(config.horizon_threshold),
        timescale=float(r.timescale), block=int(r.block), min_r2=float(s.min_r2),
        plateau_decades=float(s.plateau_decades), rebound_decades=float(r.rebound_decades),
        growth=float(r.growth), preserved=float(r.preserved))


def windows(config) -> Windows:
    """The `Windows` of ``config``."""
    lengths = lengths_of(config)
    return Windows(lengths=lengths, burn_in=burn_in(config), sequence_length=sequence_length(config),
                   computed=computed_lengths(config, lengths), lyapunov_burn_in=lyapunov_burn_in(config),
                   snippet={T: snippet_lengths(config, T) for T in lengths})


def burn_in(config) -> int:
    """Steps run before every profile window (``config.burn_in``; 0: the zero-state start-up)."""
    return int(config.get("burn_in", 0) or 0)


def lyapunov_burn_in(config) -> int:
    """Steps before the Lyapunov exponents are recorded: ``config.lyapunov.burn_in``, or ``config.burn_in``
    where it is -1 (the default: the exponents read the same driven dynamics as the profiles)."""
    value = int(config.lyapunov.burn_in)
    return burn_in(config) if value == -1 else value


def sequence_length(config) -> int:
    """Length of every drawn input sequence: the burn-in plus the longest window, ``B + max(conditions.T)``."""
    return burn_in(config) + max(lengths_of(config))


def computed_lengths(config, lengths) -> tuple[int, ...]:
    """The windows whose stacks are computed for ``lengths``: all of them from the zero state; after a
    burn-in only the longest, since every window ends at the same step ``B + max(conditions.T) − 1`` and a
    shorter window is its last T steps (`expand_windows`)."""
    return _computed(lengths, burn_in(config))


def _computed(lengths, burn_in_steps: int) -> tuple[int, ...]:
    lengths = tuple(sorted(set(int(T) for T in lengths)))
    return lengths if not burn_in_steps else (max(lengths),)


def lengths_of(config) -> tuple[int, ...]:
    return tuple(sorted(set(config.conditions.T)))


def snippet_lengths(config, T: int) -> tuple[int, ...]:
    """The lengths of the page's experiment in the condition of length T: ``config.seed_experiment.lengths``
    up to T (the snippet's 10, 50, 100, 200) and T itself."""
    return tuple(sorted({int(n) for n in config.seed_experiment.lengths if n <= T} | {int(T)}))


def workers(config) -> int:
    """Entries compiled at once: ``config.workers``, or (0) one per CPU core available, at most 4."""
    if not isinstance(config.get("quick_compile", False), bool):
        raise ValueError(f"config.quick_compile={config.quick_compile!r} is invalid; valid choices: [True, False]")
    n = config.get("workers", 0)
    if n:
        return int(n)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))
