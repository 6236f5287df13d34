"""The condition grid of the main job and the parameter initialisations an entry can ask for.

A condition is a point ``(input_scale, T)`` of ``config.conditions.input_scale ×
config.conditions.T`` (`seqgrad.jobs.gradient_flow.config.grid`): inputs
``x ~ input_scale · N(0, 1)^{T×D}``. Input scale, seeds and input sequences are values (the same
compiled programs cover all of them); each T is a shape, traced once into those programs.

Initialisations (``entries.NAME.init``, applied by `seqgrad.jobs.gradient_flow.inputs.initialise`):

* ``""``: the architecture's own initialiser;
* ``"chrono"``: chrono initialisation of an LSTM (Tallec & Ollivier 2018, "Can
  recurrent neural networks warp time?"): ``b_f ~ log U(1, T_max − 1)`` per
  unit and ``b_i = −b_f``, with ``T_max`` the default condition's T, so the
  forget gates span characteristic times 1 … T_max.
"""

from __future__ import annotations

INITS = ("", "chrono")


def validate(config) -> None:
    """Raises a one-line `ValueError` naming the key and value of a bad grid setting."""
    scales, lengths = tuple(config.conditions.input_scale), tuple(config.conditions.T)
    if not scales or any(isinstance(s, bool) or not isinstance(s, (int, float)) or not s > 0 for s in scales):
        raise ValueError(f"config.conditions.input_scale={scales!r} is invalid: a non-empty tuple of positive numbers")
    if not lengths or any(isinstance(n, bool) or not isinstance(n, int) or n < 2 for n in lengths):
        raise ValueError(f"config.conditions.T={lengths!r} is invalid: a non-empty tuple of integers >= 2")
    if config.T not in lengths:
        raise ValueError(f"config.T={config.T!r} is invalid: it must be one of config.conditions.T={lengths}")
    if float(config.default_input_scale) not in [float(s) for s in scales]:
        raise ValueError(f"config.default_input_scale={config.default_input_scale!r} is invalid: "
                         f"it must be one of config.conditions.input_scale={scales}")
    distances = tuple(config.fixed_distances)
    if not distances or any(isinstance(d, bool) or not isinstance(d, int) or not 1 <= d < min(lengths)
                            for d in distances):
        raise ValueError(f"config.fixed_distances={distances!r} is invalid: integers in [1, min(conditions.T)="
                         f"{min(lengths)})")


def check_init(name: str, arch: str, init: str) -> None:
    if init not in INITS:
        raise ValueError(f"config.entries.{name}.init={init!r} is invalid; valid choices: {list(INITS)}")
    if init == "chrono" and arch != "lstm":
        raise ValueError(f"config.entries.{name}.init='chrono' is invalid for arch={arch!r}: only 'lstm' has it")
