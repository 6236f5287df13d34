"""`config.extra_entries`: models named on the command line become entries of the main job."""

from __future__ import annotations

import numpy as np
import pytest

from experiments import gradient_flow
from seqgrad.jobs.gradient_flow import extra_entries
from seqgrad.jobs.gradient_flow import entries as entries_lib
from seqgrad.jobs import gradient_flow as job

EXTRA = "nnx:flax.nnx:GRUCell,tests.nnx_cells:Leaky[leak=0.25;unroll=2]"


def test_items_become_entries_named_after_their_strings():
    parsed = extra_entries.parse(f" {EXTRA}, lstm[forget_bias=2.0] ")
    assert list(parsed) == ["nnx:flax.nnx:GRUCell", "tests.nnx_cells:Leaky[leak=0.25;unroll=2]", "lstm[forget_bias=2.0]"]
    assert parsed["tests.nnx_cells:Leaky[leak=0.25;unroll=2]"] == {
        "arch": "tests.nnx_cells:Leaky", "site": "hidden", "init": "", "workdir": "", "options": {"leak": 0.25, "unroll": 2}}
    assert parsed["nnx:flax.nnx:GRUCell"]["options"] == {}
    assert extra_entries.parse("") == {}


@pytest.mark.parametrize(
    "text, message",
    [
        ("lstm[forget_bias]", r"'lstm\[forget_bias\]' is invalid: an item reads NAME or NAME\[key=value;...\]"),
        ("nnx:flax.nnx:NoCell", r"'nnx:flax.nnx:NoCell': architecture 'nnx:flax.nnx:NoCell': module 'flax.nnx' has no"),
        ("no_such_arch", r"'no_such_arch': unknown architecture 'no_such_arch'"),
    ],
)
def test_bad_items_are_one_line_errors(text, message):
    with pytest.raises(ValueError, match=message) as err:
        extra_entries.parse(text)
    assert "\n" not in str(err.value)


def tiny_config(extra: str):
    config = gradient_flow.get_config("rnn")
    config.unlock()
    config.update(dict(num_seeds=2, num_inputs=1, T=12, hidden_size=4, input_size=2, fixed_distances=(1, 8),
                       float64_recheck=False, extra_entries=extra))
    config.conditions.update(dict(input_scale=(1.0,), T=(12,)))
    config.lyapunov.update(dict(T=40, burn_in=5))
    config.seed_experiment.update(dict(lengths=(6, 12), decomposition_batch=4))
    config.timing.repeats = 1
    return config


def test_bad_options_and_clashing_names_fail_before_any_measurement():
    with pytest.raises(ValueError, match=r"config.entries.tests.nnx_cells:Leaky\[leek=1\]: unknown option 'leek'"):
        entries_lib.build_entries(tiny_config("tests.nnx_cells:Leaky[leek=1]"))
    with pytest.raises(ValueError, match=r"\['rnn'\] already name entries of config.entries"):
        entries_lib.build_entries(tiny_config("rnn"))


def test_extra_entries_are_analysed_with_every_measure(tmp_path):
    config = tiny_config("tests.nnx_cells:Leaky[leak=0.25]")
    config.entries = {}  # the extra entry alone
    report = job.run(config, str(tmp_path))
    assert list(report.architectures) == ["tests.nnx_cells:Leaky[leak=0.25]"]
    entry = report.architectures["tests.nnx_cells:Leaky[leak=0.25]"]
    assert entry.arch == "tests.nnx_cells:Leaky" and entry.options == {"leak": 0.25}
    np.testing.assert_allclose(entry.jacobian_norm[0], 1.0, rtol=1e-5)  # ∂h_{T−1}/∂h_{T−1} = I
    assert len(entry.lyapunov_exponents) == config.lyapunov.num_exponents
