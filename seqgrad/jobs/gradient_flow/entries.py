"""Step 2 of the main job: the configured entries, each a model built and checked before anything compiles.

An `Entry` is a registered architecture with its options, a perturbation site and an
initialisation (`conditions.INITS`), or the parameters of a trained run
(``config.entries.NAME.workdir``, `seqgrad.jobs.trained`). An architecture's optional measures are
fields of its registry record (`seqgrad.models.Architecture.state_jacobian_bound` and
``state_variance_ratio``), read by the programs as ``entry.info.<field>``.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping
from typing import Any

import flax.linen as nn

from seqgrad import models, modelspec
from seqgrad.gradflow.budget import MAX_EXACT_ELEMENTS, choose_method
from seqgrad.gradflow.sites import site_width
from seqgrad.jobs import trained
from seqgrad.jobs.gradient_flow import conditions, extra_entries
from seqgrad.jobs.gradient_flow.config import validate
from seqgrad.models.base import check_site


@dataclasses.dataclass(frozen=True)
class Entry:
    """One configured analysis entry: a registered architecture with options, a site and an initialisation."""

    name: str
    arch: str
    options: Mapping[str, Any]
    site: str
    model: nn.Module
    init: str = ""
    workdir: str | None = None  # a trained run whose parameters are measured (None: initialisations)
    modules: int = 0  # clockwork modules whose diagonal blocks are measured (0: none)
    method: str = "exact"  # how the state Jacobians are measured (`seqgrad.gradflow.budget.choose_method`)
    trained: Any = dataclasses.field(default=None, compare=False)  # `trained.TrainedRun` of ``workdir``

    @property
    def info(self) -> models.Architecture:
        return models.info(self.arch)


def build_entries(config) -> list[Entry]:
    """Validates the config and builds every entry's model; fails before any measurement.

    Raises:
      ValueError: an unknown architecture or option, an invalid value (the
        registry's message, naming the entry), a bad site, init or number.
    """
    validate(config)
    named = extra_entries.entries(config)  # config.entries, then those of config.extra_entries
    if not named:
        raise ValueError("config.entries is empty: name at least one architecture")
    entries = []
    for name, spec in named:
        model_spec = modelspec.normalize(spec, where=f"config.entries.{name}")  # `name`, or its alias `arch`
        arch, options, init = model_spec.name, model_spec.options, spec.get("init", "") or ""
        run = _trained_run(name, spec, arch, init)
        try:
            if run is None:
                model = models.create(arch, hidden_size=config.hidden_size, **options)
            else:
                model, options = run.trainer.model, dict(run.config.model.get("options", {}) or {})
            check_site(model, spec.site)
        except ValueError as err:
            raise ValueError(f"config.entries.{name}: {err}") from err
        conditions.check_init(name, arch, init)
        modules = int(getattr(model, "num_modules", 0)) if arch == "multiscale_rnn" else 0
        width, T = site_width(model, spec.site), max(config.conditions.T)
        method = choose_method(T, width, config.method)
        if config.method == "auto" and method == "sketch":
            print(f"config.method='auto': {name} is measured by the sketch (‖J(d)‖_F by probes): its exact stack "
                  f"would hold T·n² = {T}·{width}² = {T * width * width:.3g} numbers per sequence, above "
                  f"{MAX_EXACT_ELEMENTS:.3g}", file=sys.stderr, flush=True)
        entries.append(Entry(name, arch, options, spec.site, model, init, spec.get("workdir") or None, modules,
                             method, run))
    return entries


def _trained_run(name: str, spec, arch: str, init: str):
    """The `trained.TrainedRun` of ``config.entries.NAME.workdir`` (None without one); one-line errors."""
    path = spec.get("workdir") or ""
    if not path:
        return None
    key = f"config.entries.{name}.workdir={path!r}"
    if init:
        raise ValueError(f"config.entries.{name}.init={init!r} is invalid with {key}: a trained run's parameters "
                         "are restored, not initialised; set init to ''")
    try:
        run = trained.load(path)
    except ValueError as err:
        raise ValueError(f"{key}: {err}") from None
    ran = run.config.model.get("name") or run.config.model.get("arch")
    if ran != arch:
        raise ValueError(f"{key} holds a {ran!r} run but the entry names arch={arch!r}: set "
                         f"config.entries.{name}.arch={ran!r} or give the workdir to a {ran!r} entry")
    return run
