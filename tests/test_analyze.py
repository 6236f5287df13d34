"""The main job end to end on a tiny config (a 2 × 2 condition grid), and config validation at the start."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from experiments import gradient_flow
from seqgrad.gradflow import decay
from seqgrad.report import chain_rules, claims, gradient_flow as report, path_rules, verdicts
from seqgrad.jobs.gradient_flow import entries as entries_lib

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
        "--config.num_inputs=2", f"--config.conditions.T=({T}, 50)", "--config.conditions.input_scale=(0.1, 1.0)",
        "--config.fixed_distances=(1, 8)", f"--config.compilation_cache_dir={tmp_path / 'cache'}",
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
    assert "The page's claims" in done.stdout
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
    # The timing says what it differentiated: rnn's hand-written VJP, the convolution's autodiff.
    assert rnn["time_implementation"] == "hand-written VJP"
    assert data["architectures"]["dilated_conv_L4"]["time_implementation"] == "autodiff"
    assert rnn["jacobian_norm"][0] == pytest.approx(1.0, abs=1e-6)  # ∂h_{T-1}/∂h_{T-1} = I
    assert len(rnn["lyapunov_exponents"]) == 4 and rnn["seed_experiment"]["lengths"] == [5, 20, 40]
    conv = data["architectures"]["dilated_conv_L4"]
    R = conv["receptive_field"]
    # Beyond R every norm is exactly 0; with H = 4, ReLU can also zero the single path to a lag just inside R.
    assert R == 31 and conv["first_exact_zero_distance"] <= R
    assert set(conv["status"][R:]) == {"exact_zero"} and all(n == 0 for n in conv["jacobian_norm"][R:])
    assert conv["lyapunov_exponents"] is None and conv["seed_experiment"] is None

    # Every condition of the grid is measured, the default one first at the top level.
    grid = [{"input_scale": s, "T": n} for s in (0.1, 1.0) for n in (T, 50)]
    assert [m["condition"] for m in rnn["conditions"]] == grid
    default = rnn["conditions"][grid.index({"input_scale": 1.0, "T": T})]
    assert default["jacobian_norm"] == rnn["jacobian_norm"] and default["regime"] == rnn["regime"]
    assert len(rnn["conditions"][1]["jacobian_norm"]) == 50
    assert rnn["regime"] in decay.CLASSIFIED_REGIMES and rnn["regime_by_ratio"] in decay.REGIMES
    assert data["burn_in"] == 256 and rnn["burn_in"] == 256 and rnn["timescale"] > 0
    assert set(rnn["decay_rate"]) >= {"median", "q25", "q75", "spread_over_inits", "spread_over_inputs"}

    rows = data["claims"]
    assert len(rows) == len(claims.CLAIMS)
    allowed = verdicts.VERDICTS
    for r in rows:
        assert {"claim", "test", "measurement", "verdict", "by_condition", "depends_on", "refuted_if"} <= set(r)
        assert [v["condition"] for v in r["by_condition"]] == grid
        assert all(v["verdict"] in allowed for v in r["by_condition"])
        agree = len({v["verdict"] for v in r["by_condition"]}) == 1
        assert r["verdict"] == (r["by_condition"][0]["verdict"] if agree else verdicts.DEPENDS)
        assert bool(r["depends_on"]) == (not agree)
    by_claim = {r["claim"]: r for r in rows}
    additive = next(by_claim[c.claim] for c in claims.CLAIMS if c.rule is chain_rules.additive)
    dilated = next(by_claim[c.claim] for c in claims.CLAIMS if c.rule is path_rules.dilated)
    assert additive["verdict"] == verdicts.NOT_MEASURED  # no lstm/gru here
    # R = 31 < T: beyond R exactly zero; the claim can hold at most within the receptive field.
    assert {v["verdict"] for v in dilated["by_condition"]} <= {verdicts.QUALIFIED, verdicts.REFUTED}
    summary = (workdir / report.FILES["summary"]).read_text()
    assert "| entry | architecture (site) | page's path length |" in summary
    assert "## Verdicts by condition" in summary and "s=0.1, T=50" in summary
    for r in rows:
        assert r["claim"] in summary and r["refuted_if"].replace("|", "\\|") in summary  # escaped in tables
    assert summary.count("| rnn | rnn (hidden) | O(T) |") == 1


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: setattr(c.entries.rnn, "arch", "lstmm"), "valid choices"),
        (lambda c: c.entries.rnn.options.update({"activation": "sigmoid"}), "'tanh', 'relu', 'linear'"),
        (lambda c: c.entries.rnn.options.update({"bogus": 1}), "valid options"),
        (lambda c: setattr(c.entries.rnn, "site", "cell"), "valid sites"),
        (lambda c: setattr(c, "num_seeds", 0), "num_seeds=0"),
        (lambda c: setattr(c.seed_experiment, "lengths", (5, 0)), "lengths"),
        (lambda c: setattr(c, "burn_in", -1), "burn_in=-1"),
        (lambda c: setattr(c, "horizon_threshold", 2.0), "horizon_threshold=2.0"),
        (lambda c: setattr(c.conditions, "input_scale", (1.0, -1.0)), "input_scale=(1.0, -1.0)"),
        (lambda c: setattr(c.conditions, "T", (256, 512)), "config.T=128"),
        (lambda c: setattr(c, "fixed_distances", (1, 400)), "fixed_distances"),
        (lambda c: setattr(c.entries.rnn, "init", "chrono"), "only 'lstm'"),
        (lambda c: setattr(c, "method", "magic"), "method='magic'"),
    ],
)
def test_bad_config_fails_at_the_start_naming_the_value(change, message):
    config = gradient_flow.get_config("rnn")
    with config.unlocked():
        change(config)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        entries_lib.build_entries(config)
    assert "invalid" in str(err.value) or "unknown" in str(err.value)


def test_default_config_covers_every_registered_architecture():
    from seqgrad import models

    config = gradient_flow.get_config()
    assert {e.arch for e in config.entries.values()} >= set(models.available())
    # Gate-bias variants and the bounded identity-path variants are entries of their own.
    assert config.entries.gru_update_bias_neg.options.update_bias < 0 and config.entries.lstm_chrono.init == "chrono"
    assert config.entries.residual_rnn_small.options.residual_scale < 1 and config.entries.lstm_state.site == "state"
    assert len(entries_lib.build_entries(config)) == len(config.entries)
    with pytest.raises(ValueError, match="unknown entries"):
        gradient_flow.get_config("rnn,nope")


def test_the_sketch_without_singular_values_runs_end_to_end(tmp_path):
    """``method=sketch`` with the default ``sketch.num_singular = 0`` measures ‖J(d)‖_F only: the record holds no
    singular value (``[T][0]``) and every summary is read from the Frobenius profile."""
    from seqgrad.jobs import gradient_flow as job

    config = gradient_flow.get_config("rnn,lstm")
    with config.unlocked():
        config.update_from_flattened_dict({
            "T": 16, "num_seeds": 2, "num_inputs": 2, "hidden_size": 4, "input_size": 2, "conditions.T": (16,),
            "conditions.input_scale": (1.0,), "fixed_distances": (1,), "lyapunov.T": 20, "lyapunov.burn_in": 2,
            "lyapunov.num_exponents": 2, "seed_experiment.lengths": (4,), "burn_in": 8, "method": "sketch",
            "sketch.num_probes": 4, "timing.repeats": 0, "compilation_cache_dir": "none"})
    assert config.sketch.num_singular == 0
    report_ = job.run(config, str(tmp_path))
    for name, entry in report_.architectures.items():
        assert entry.method == "sketch" and entry.profile_norm == "frobenius", name
        assert entry.singular_values.shape == (16, 0), name
        assert all(v > 0 for v in entry.jacobian_norm), name
    assert (tmp_path / report.FILES["json"]).stat().st_size > 0
