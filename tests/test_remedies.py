"""The remedies experiment: its sweep, its measured runs, its report."""

import json
import os

import jax
import numpy as np
import pytest

from seqgrad import jsonio, tasks
from seqgrad.report import remedies as report
from seqgrad.train import config as config_lib
from seqgrad.train import remedies
from tests.train_helpers import ROOT, experiment, use_compilation_cache

use_compilation_cache()


def _module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("experiment_remedies", os.path.join(ROOT, "experiments", "remedies.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sweep_applies_each_remedy_to_its_architectures():
    module = _module()
    points = module.get_sweep("cpu")
    by_arch = {}
    for p in points:
        by_arch.setdefault(p["model.name"], set()).add(p["remedy"])
    assert by_arch["rnn"] == {"none", "critical", "orthogonal", "flossing", "flossing_before", "clipping"}
    assert by_arch["lstm"] == by_arch["gru"] == {"none", "chrono", "flossing", "flossing_before", "clipping"}
    assert len(points) == 16 * 2
    for p in points:
        if p["remedy"] == "chrono":
            assert p["model.options.chrono"] == p["task.length"]
    base = experiment("remedies", "cpu")
    assert base.optim.clip == "none" and base.model.options.recurrent_init == "normal"


def test_adding_input_scale_is_the_drive_of_the_rnn():
    """E_U[(x U)_i²] = Σ_d E[x_d²]/D for U_di ~ N(0, 1/D) (LeCun normal, D = 2): adding_input_scale(T)²."""
    T = 20
    x = np.asarray(tasks.create("adding", length=T).batch(jax.random.key(0), 4000)[0]).reshape(-1, 2)
    assert np.mean(x**2) == pytest.approx(_module().adding_input_scale(T) ** 2, rel=0.01)


def _summary(points):
    return {"points": [{"name": f"p{i}", "status": "done", "baseline": {"loss": 1 / 6},
                        "overrides": {"model.name": a, "remedy": r, "task.length": T}}
                       for i, (a, r, T, _) in enumerate(points)]}


def test_report_counts_success_per_seed(tmp_path):
    """Success = fraction of seeds with loss <= 0.1 × 1/6; the largest T solved by half the seeds."""
    points = [("rnn", "none", 10, [0.001, 0.2]), ("rnn", "none", 50, [0.2, 0.2]),
              ("rnn", "critical", 10, [0.001, 0.01]), ("rnn", "critical", 50, [0.001, 0.2])]
    for i, (_, _, _, losses) in enumerate(points):
        jsonio.write_json(os.path.join(tmp_path, f"p{i}", "result.json"), {"replicas": [
            {"eval": {"loss": loss, "lyapunov_init": -0.1 * k, "horizon_init": 3.0}} for k, loss in enumerate(losses)]})
    table = report.write(_summary(points), str(tmp_path))
    assert table["rnn"]["none"][10]["success"] == 0.5 and table["rnn"]["none"][50]["success"] == 0.0
    assert table["rnn"]["critical"][50]["success"] == 0.5
    assert table["rnn"]["critical"][10]["lyapunov_init"] == pytest.approx(-0.05)
    assert table["rnn"]["critical"][10]["lyapunov_final"] is None
    text = open(tmp_path / "remedies.md").read()
    assert "| rnn | none | 10 |  |" in text and "| rnn | critical | 50 | 10 → 50 |" in text
    assert os.path.exists(tmp_path / "remedies.png")


@pytest.mark.slow
def test_pipeline_at_tiny_size_is_measured_and_resumable(tmp_path, capsys):
    """Two points of ``:quick`` (~30 s): every seed's eval gains the four measures, the report is
    written, and a rerun skips both points."""
    config = experiment("remedies", "quick")
    module = _module()
    points = [p for p in module.get_sweep("quick") if p["remedy"] in ("none", "flossing_before")]
    assert len(points) == 2
    summary = remedies.run(config, points, str(tmp_path))
    assert [p["status"] for p in summary["points"]] == ["done", "done"]
    for p in summary["points"]:
        result = jsonio.read_json(os.path.join(tmp_path, p["name"], "result.json"))
        assert len(result["replicas"]) == config.train.num_seeds
        for replica in result["replicas"]:
            assert set(report.MEASURES) <= set(replica["eval"])
            assert 0 <= replica["eval"]["horizon_init"] <= config.task.length - 1
    table = jsonio.read_json(os.path.join(tmp_path, "remedies.json"))["results"]
    assert set(table["rnn"]) == {"none", "flossing_before"}
    capsys.readouterr()
    remedies.run(config, points, str(tmp_path))
    assert capsys.readouterr().out.count("finished earlier, skipped") == 2

    # Stopped after training, before its measurements were written: measured on the rerun, not skipped,
    # from the final checkpoint, to the same numbers.
    stopped = os.path.join(tmp_path, summary["points"][0]["name"], "result.json")
    before = jsonio.read_json(stopped)
    trained_only = json.loads(json.dumps(before))
    for e in [trained_only["eval"]] + [r["eval"] for r in trained_only["replicas"]]:
        for key in report.MEASURES:
            del e[key]
    jsonio.write_json(stopped, trained_only)
    assert not remedies.measured(trained_only, config.train.steps) and remedies.measured(before, config.train.steps)
    again = remedies.run(config, points, str(tmp_path))
    out = capsys.readouterr().out
    assert out.count("finished earlier, skipped") == 1 and [p["status"] for p in again["points"]] == ["done", "done"]
    after = jsonio.read_json(stopped)
    assert after["replicas"] == before["replicas"] and after["eval"] == before["eval"]


def test_pipeline_validates_points_before_running(tmp_path):
    config = experiment("remedies", "quick")
    with pytest.raises(ValueError, match="sweep point .*train.flossing.num_exponents=99 is invalid"):
        from seqgrad.train import sweep

        sweep.validate_points(config, [{"model.name": "rnn", "train.flossing.num_exponents": 99,
                                        "train.flossing.weight": 1.0}])
    assert config_lib.get(config, "remedy") == "none"
