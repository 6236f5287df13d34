"""The main job end to end on a tiny config, and config validation at the start."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from experiments import gradient_flow
from seqgrad.gradflow import analysis
from seqgrad.report import claims, gradient_flow as report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENTRIES = "rnn,dilated_conv_L4"
T = 40


def test_tiny_config_end_to_end(tmp_path):
    workdir = tmp_path / "gf"
    command = [
        sys.executable, os.path.join(ROOT, "scripts", "analyze.py"),
        f"--config={os.path.join(ROOT, 'experiments', 'gradient_flow.py')}:{ENTRIES}",
        f"--workdir={workdir}",
        f"--config.T={T}", "--config.num_seeds=2", "--config.hidden_size=4", "--config.input_size=2",
        "--config.lyapunov.T=60", "--config.lyapunov.burn_in=5", "--config.seed_experiment.lengths=(5, 20, 40)",
        "--config.seed_experiment.decomposition_batch=8", "--config.timing.repeats=1",
        "--config.claims.dilated=('dilated_conv_L4',)",
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "gradient flow [2/2]" in done.stderr and " done in " in done.stderr  # plain lines, not a TTY
    # The terminal summary: one table row per entry, one verdict line per claim, every file named.
    for name in ENTRIES.split(","):
        assert f"| {name} |" in done.stdout, done.stdout
    assert "The seed's claims" in done.stdout
    for name in report.FILES.values():
        assert f"wrote {workdir / name}" in done.stdout, done.stdout

    for name in report.FILES.values():
        assert (workdir / name).stat().st_size > 0, name
    data = json.loads((workdir / report.FILES["json"]).read_text())
    assert data["T"] == T and set(data["architectures"]) == set(ENTRIES.split(","))
    for name, entry in data["architectures"].items():
        assert entry["distance"] == list(range(T))
        assert len(entry["jacobian_norm"]) == T and len(entry["status"]) == T
        assert len(entry["singular_values"]) == T and len(entry["singular_values"][0]) == 4
        assert entry["time_per_step_s"] > 0
    rnn = data["architectures"]["rnn"]
    assert rnn["jacobian_norm"][0] == pytest.approx(1.0, abs=1e-6)  # ∂h_{T-1}/∂h_{T-1} = I
    assert len(rnn["lyapunov_exponents"]) == 4 and rnn["seed_experiment"]["lengths"] == [5, 20, 40]
    conv = data["architectures"]["dilated_conv_L4"]
    R = conv["receptive_field"]
    # Beyond R every norm is exactly 0; with H = 4, ReLU can also zero the single path to a lag just inside R.
    assert R == 31 and conv["first_exact_zero_distance"] <= R
    assert set(conv["status"][R:]) == {"exact_zero"} and all(n == 0 for n in conv["jacobian_norm"][R:])
    assert conv["lyapunov_exponents"] is None and conv["seed_experiment"] is None

    rows = data["claims"]
    assert len(rows) == len(claims.CLAIMS)
    assert all(r["verdict"] in (claims.CONFIRMED, claims.REFUTED, claims.QUALIFIED, claims.NOT_MEASURED) for r in rows)
    verdicts = {r["claim"]: r["verdict"] for r in rows}
    config = gradient_flow.get_config()
    # R = 31 < T = 40: the O(log T) claim holds only within the receptive field.
    assert verdicts[claims.dilated({}, config.claims, T)["claim"]] == claims.QUALIFIED
    assert verdicts[claims.vanilla({}, config.claims, T)["claim"]] != claims.NOT_MEASURED
    assert verdicts[claims.additive({}, config.claims, T)["claim"]] == claims.NOT_MEASURED  # no lstm/gru here
    summary = (workdir / report.FILES["summary"]).read_text()
    assert "| entry | architecture (site) | seed's path length |" in summary
    for r in rows:
        assert r["claim"] in summary
    assert summary.count("| rnn | rnn (hidden) | O(T) |") == 1


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: setattr(c.entries.rnn, "arch", "lstmm"), "valid choices"),
        (lambda c: c.entries.rnn.options.update({"activation": "sigmoid"}), "'tanh', 'relu', 'linear'"),
        (lambda c: c.entries.rnn.options.update({"bogus": 1}), "valid options"),
        (lambda c: setattr(c.entries.rnn, "site", "cell"), "valid sites"),
        (lambda c: setattr(c, "num_seeds", 0), "num_seeds=0"),
        (lambda c: setattr(c.seed_experiment, "lengths", (5, 500)), "lengths"),
        (lambda c: setattr(c, "horizon_threshold", 2.0), "horizon_threshold=2.0"),
    ],
)
def test_bad_config_fails_at_the_start_naming_the_value(change, message):
    config = gradient_flow.get_config("rnn")
    with config.unlocked():
        change(config)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        analysis.build_entries(config)
    assert "invalid" in str(err.value) or "unknown" in str(err.value)


def test_default_config_covers_every_registered_architecture():
    from seqgrad import models

    config = gradient_flow.get_config()
    assert {e.arch for e in config.entries.values()} >= set(models.available())
    assert len(analysis.build_entries(config)) == len(config.entries)
    with pytest.raises(ValueError, match="unknown entries"):
        gradient_flow.get_config("rnn,nope")
