"""Sweeps (`seqgrad.train.sweep`): names, batching of vmappable points, resume, failures, report.

Most tests inject a fake runner that follows `train_and_evaluate`'s contract (writes
``workdir/result.json`` with per-replica evals) and computes each replica's eval loss
from its own hyper-parameters and seed, so the value a point gets when batched must
equal the one it gets alone.
"""

from __future__ import annotations

import itertools
import json
import os

import ml_collections as mlc
import numpy as np
import pytest

from seqgrad import models
from seqgrad.train import sweep
from seqgrad.train.loop import Interrupted
from seqgrad.train import sweep_plan
from seqgrad.train import validation


def base_config(**train):
    c = mlc.ConfigDict()
    c.model = mlc.ConfigDict({"name": "lstm", "hidden_size": 8, "options": mlc.ConfigDict({"forget_bias": 1.0})})
    c.task = mlc.ConfigDict({"name": "adding", "length": 10})
    c.train = mlc.ConfigDict({"steps": 5, "batch_size": 4, "seed": 0, "num_seeds": 1, "hparams": "", **train})
    c.optim = mlc.ConfigDict(
        {"name": "adam", "learning_rate": 1e-3, "clip": "none", "clip_value": 1.0, "weight_decay": 0.0}
    )
    c.checkpoint = mlc.ConfigDict({"every": 10})
    c.mesh = mlc.ConfigDict({"replica": 0, "data": 0})
    c.lock()
    return c


def replica_loss(model, length, lr, clip_value, seed):
    """The fake run's eval loss of one replica: a function of exactly what defines it."""
    return 1000 * lr + 10 * clip_value + seed + length / 1000 + (0.5 if model == "gru" else 0.0)


class FakeRunner:
    """Records its calls; writes a result.json as `train_and_evaluate` does; fails on demand."""

    def __init__(self, fail_models=()):
        self.calls: list[dict] = []
        self.fail_models = set(fail_models)

    def __call__(self, config, workdir):
        hp = json.loads(config.train.hparams or "{}")
        self.calls.append(
            {
                "workdir": workdir,
                "hparams": hp,
                "lr": config.optim.learning_rate,
                "seed": config.train.seed,
                "num_seeds": config.train.num_seeds,
            }
        )
        if config.model.name in self.fail_models:
            raise RuntimeError(f"diverged: {config.model.name}")
        replicas = []
        for combo in itertools.product(*hp.values()):  # seeds innermost
            for i in range(config.train.num_seeds):
                v = dict(zip(hp, combo))
                seed = config.train.seed + i
                loss = replica_loss(
                    config.model.name,
                    config.task.length,
                    v.get("optim.learning_rate", config.optim.learning_rate),
                    v.get("optim.clip_value", config.optim.clip_value),
                    seed,
                )
                replicas.append({"seed": seed, **v, "eval": {"loss": loss, "mse": loss}})
        result = {
            "step": config.train.steps,
            "eval": {k: float(np.median([r["eval"][k] for r in replicas])) for k in ("loss", "mse")},
            "baseline": {"mse": 1 / 6},
            "replicas": replicas,
        }
        os.makedirs(workdir, exist_ok=True)
        with open(os.path.join(workdir, "result.json"), "w") as f:
            json.dump(result, f)
        return result


def _points(models=("lstm",), lengths=(10, 20), lrs=(0.1, 0.01), seeds=(0, 1)):
    return [
        {"model.name": m, "task.length": t, "optim.learning_rate": lr, "train.seed": s}
        for m in models
        for t in lengths
        for lr in lrs
        for s in seeds
    ]


# --------------------------------------------------------------------------- names


def test_point_names_are_readable_sorted_and_stable():
    a = sweep_plan.point_name({"task.length": 100, "model.name": "lstm", "optim.clip": "global_norm"})
    assert a == "model.name=lstm,optim.clip=global_norm,task.length=100"
    assert sweep_plan.point_name({"optim.clip": "global_norm", "task.length": 100, "model.name": "lstm"}) == a
    assert sweep_plan.point_name({}) == "base"
    assert sweep_plan.point_name({"optim.learning_rate": 0.001, "train.seed": 3}) == "optim.learning_rate=0.001,train.seed=3"


def test_point_names_are_filesystem_safe_and_distinct():
    odd = [{"model.name": "a/b"}, {"model.name": "a b"}, {"model.name": "a_b"}, {"x": "y" * 300}, {"task.name": ".."}]
    names = [sweep_plan.point_name(p) for p in odd]
    assert len(set(names)) == len(names)
    for n in names:
        assert "/" not in n and " " not in n and not n.startswith(".") and len(n) <= 130
    assert names[2] == "model.name=a_b"  # already safe: no digest
    assert names[0].startswith("model.name=a_b-") and len(names[0]) == len("model.name=a_b-") + 8


# --------------------------------------------------------------------------- grouping


def test_vmappable_points_are_batched_into_one_run_per_shape(tmp_path):
    runner = FakeRunner()
    points = _points(models=("lstm", "gru"), lengths=(10, 20), lrs=(0.1, 0.01, 0.001), seeds=(0, 1, 2))
    out = sweep.run_sweep(base_config(), points, str(tmp_path), runner=runner)
    # 2 models x 2 lengths change the program; 3 learning rates x 3 seeds ride on the replica axis
    assert len(runner.calls) == 4
    for call in runner.calls:
        assert call["hparams"] == {"optim.learning_rate": [0.001, 0.01, 0.1]}
        assert (call["seed"], call["num_seeds"]) == (0, 3)
        assert "/batched/" in call["workdir"]
    assert [r["status"] for r in out["points"]] == ["done"] * len(points)
    for p, r in zip(points, out["points"]):
        want = replica_loss(p["model.name"], p["task.length"], p["optim.learning_rate"], 1.0, p["train.seed"])
        assert r["eval"]["loss"] == pytest.approx(want, rel=1e-12)
        assert r["seeds"] == [p["train.seed"]] and r["batched"]
        # every point has its own sub-workdir with its share of the result
        own = json.loads((tmp_path / r["name"] / "result.json").read_text())
        assert own["eval"]["loss"] == r["eval"]["loss"] and len(own["replicas"]) == 1


def test_batched_results_equal_separate_runs(tmp_path):
    points = _points(lengths=(10,), lrs=(0.1, 0.01), seeds=(0, 1))
    batched = sweep.run_sweep(base_config(), points, str(tmp_path / "a"), runner=FakeRunner())
    alone = [sweep.run_sweep(base_config(), [p], str(tmp_path / f"b{i}"), runner=FakeRunner()) for i, p in enumerate(points)]
    for got, ref in zip(batched["points"], alone):
        assert got["eval"] == ref["points"][0]["eval"]
        assert not ref["points"][0]["batched"]


def test_multi_seed_points_report_median_and_spread(tmp_path):
    runner = FakeRunner()
    points = [{"optim.clip_value": 1.0}, {"optim.clip_value": 2.0}]
    out = sweep.run_sweep(base_config(num_seeds=3, seed=5), points, str(tmp_path), runner=runner)
    assert len(runner.calls) == 1
    assert runner.calls[0]["hparams"] == {"optim.clip_value": [1.0, 2.0]}
    assert (runner.calls[0]["seed"], runner.calls[0]["num_seeds"]) == (5, 3)
    for r, cv in zip(out["points"], (1.0, 2.0)):
        losses = [replica_loss("lstm", 10, 1e-3, cv, s) for s in (5, 6, 7)]
        assert r["seeds"] == [5, 6, 7]
        assert r["eval"]["loss"] == pytest.approx(np.median(losses), rel=1e-12)
        assert r["spread"]["loss"] == pytest.approx([min(losses), max(losses)], rel=1e-12)


def test_incomplete_products_are_split_without_training_a_replica_twice(tmp_path):
    runner = FakeRunner()
    points = [
        {"optim.learning_rate": 0.1, "train.seed": 0},
        {"optim.learning_rate": 0.1, "train.seed": 1},
        {"optim.learning_rate": 0.01, "train.seed": 0},  # no seed 1 for this rate: not a full product
        {"optim.learning_rate": 0.001, "train.seed": 4},  # seed range not contiguous
    ]
    out = sweep.run_sweep(base_config(), points, str(tmp_path), runner=runner)
    trained = sorted(
        (lr, c["seed"] + i) for c in runner.calls for lr in c["hparams"].get("optim.learning_rate", [c["lr"]])
        for i in range(c["num_seeds"])
    )
    assert trained == sorted((p["optim.learning_rate"], p["train.seed"]) for p in points)  # each exactly once
    assert [r["status"] for r in out["points"]] == ["done"] * 4
    assert out["points"][3]["eval"]["loss"] == pytest.approx(replica_loss("lstm", 10, 0.001, 1.0, 4))


def test_vmappable_key_absent_from_a_locked_config_goes_through_hparams():
    config = base_config()
    with config.unlocked():
        config.model.options = mlc.ConfigDict()  # the models' defaults
    config.lock()
    batched = sweep.group_points(sweep.make_points(config, [{"model.options.forget_bias": b} for b in (0.0, 1.0)]))
    assert len(batched) == 1
    assert json.loads(batched[0].config().train.hparams) == {"model.options.forget_bias": [0.0, 1.0]}
    (alone,) = sweep.group_points(sweep.make_points(config, [{"model.options.forget_bias": 2}]))
    assert json.loads(alone.config().train.hparams) == {"model.options.forget_bias": [2.0]}
    assert "forget_bias" not in alone.config().model.options


def test_non_vmappable_differences_are_not_batched():
    points = sweep.make_points(base_config(), [{"model.name": "lstm"}, {"model.name": "gru"}, {"task.length": 5}])
    groups = sweep.group_points(points)
    assert [len(g.points) for g in groups] == [1, 1, 1]


def test_command_line_overrides_win_and_merge_duplicates(tmp_path):
    runner = FakeRunner()
    points = [{"task.length": 10, "model.name": "lstm"}, {"task.length": 20, "model.name": "lstm"}]
    out = sweep.run_sweep(
        base_config(), points, str(tmp_path), runner=runner, overrides={"task.length": 7, "train.steps": 3}
    )
    assert [r["name"] for r in out["points"]] == ["model.name=lstm,task.length=7"]
    assert len(runner.calls) == 1 and out["points"][0]["step"] == 3


def test_bad_override_fails_before_any_run(tmp_path):
    runner = FakeRunner()
    with pytest.raises(ValueError, match=r"sweep point 1 .*optim\.clip_valu"):
        sweep.run_sweep(base_config(), [{"task.length": 5}, {"optim.clip_valu": 1.0}], str(tmp_path), runner=runner)
    assert runner.calls == []


# --------------------------------------------------------------------------- resume and failure


def test_rerun_skips_finished_points(tmp_path):
    runner = FakeRunner()
    points = _points(models=("lstm", "gru"))
    first = sweep.run_sweep(base_config(), points, str(tmp_path), runner=runner)
    n = len(runner.calls)
    second = sweep.run_sweep(base_config(), points, str(tmp_path), runner=runner)
    assert len(runner.calls) == n  # nothing retrained
    assert [r["eval"] for r in second["points"]] == [r["eval"] for r in first["points"]]
    assert [r["wall_s"] for r in second["points"]] == [r["wall_s"] for r in first["points"]]
    # a longer run is not finished: every point runs again (train_and_evaluate extends it)
    sweep.run_sweep(base_config(steps=8), points, str(tmp_path), runner=runner)
    assert len(runner.calls) == 2 * n


def test_half_finished_point_runs_again_and_batched_result_is_split_without_rerun(tmp_path):
    runner = FakeRunner()
    points = _points(lengths=(10,), lrs=(0.1, 0.01), seeds=(0,)) + [{"model.name": "gru"}]
    out = sweep.run_sweep(base_config(), points, str(tmp_path), runner=runner)
    gru_dir = tmp_path / out["points"][2]["name"]
    # interrupted single run: its result.json is not there (or not valid JSON yet)
    (gru_dir / "result.json").write_text('{"step": 5, "ev')
    # interrupted after the batched run finished but before one point's split was written
    (tmp_path / out["points"][1]["name"] / "result.json").unlink()
    runner.calls.clear()
    again = sweep.run_sweep(base_config(), points, str(tmp_path), runner=runner)
    assert [c["workdir"] for c in runner.calls] == [str(gru_dir)]
    assert [r["eval"] for r in again["points"]] == [r["eval"] for r in out["points"]]
    assert (tmp_path / out["points"][1]["name"] / "result.json").exists()


def test_a_result_the_finished_rule_rejects_runs_again_batched_or_alone(tmp_path):
    """A runner that adds to the result after training (the remedies' measurements) passes
    ``finished``: a complete-but-unmeasured result.json is run again, batched or alone."""
    runner = FakeRunner()
    points = _points(lengths=(10,), lrs=(0.1, 0.01), seeds=(0,)) + [{"model.name": "gru"}]
    sweep.run_sweep(base_config(), points, str(tmp_path), runner=runner)
    n = len(runner.calls)
    assert n == 2  # one batched run of the two LSTM points, the GRU alone

    def measured(result, steps):
        return sweep.is_complete(result, steps) and "measured" in result["eval"]

    sweep.run_sweep(base_config(), points, str(tmp_path), runner=runner, finished=measured)
    assert len(runner.calls) == 2 * n  # neither result.json (nor the batched run's) had the key


def test_failing_point_is_recorded_and_the_others_go_on(tmp_path):
    runner = FakeRunner(fail_models={"rnn"})
    points = [{"model.name": "rnn"}, {"model.name": "lstm"}, {"model.name": "gru"}]
    out = sweep.run_sweep(base_config(), points, str(tmp_path), runner=runner)
    assert len(runner.calls) == 3
    status = {r["overrides"]["model.name"]: r for r in out["points"]}
    assert status["rnn"]["status"] == "failed" and "RuntimeError: diverged: rnn" in status["rnn"]["error"]
    assert status["lstm"]["status"] == "done" and status["lstm"]["error"] is None
    assert status["gru"]["status"] == "done"
    on_disk = json.loads((tmp_path / "sweep.json").read_text())
    assert on_disk == json.loads(json.dumps(out))
    # the failed point is retried on rerun, the finished ones are not
    runner.calls.clear()
    sweep.run_sweep(base_config(), points, str(tmp_path), runner=runner)
    assert [c["workdir"] for c in runner.calls] == [str(tmp_path / "model.name=rnn")]


@pytest.mark.parametrize("error", [KeyboardInterrupt(), Interrupted("SIGTERM: checkpoint saved", step=3, signum=15)])
def test_interrupt_stops_the_sweep(tmp_path, error):
    calls = []

    def interrupted(config, workdir):
        calls.append(workdir)
        raise error

    with pytest.raises(type(error)):
        sweep.run_sweep(base_config(), [{"model.name": "lstm"}, {"model.name": "gru"}], str(tmp_path), runner=interrupted)
    assert len(calls) == 1


# --------------------------------------------------------------------------- report


def test_summary_has_one_row_per_point_with_median_and_spread(tmp_path):
    runner = FakeRunner(fail_models={"gru"})
    points = [{"model.name": "lstm", "task.length": t} for t in (10, 20)] + [{"model.name": "gru", "task.length": 10}]
    sweep.run_sweep(base_config(num_seeds=3), points, str(tmp_path), runner=runner)
    text = (tmp_path / "summary.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| #")]
    assert len(rows) == 3
    header = text.splitlines()[[i for i, l in enumerate(text.splitlines()) if l.startswith("| #")][0]]
    assert "model.name" in header and "task.length" in header and "loss = mse median [min, max]" in header
    losses = [replica_loss("lstm", 20, 1e-3, 1.0, s) for s in range(3)]
    assert f"{np.median(losses):.4g} [{min(losses):.4g}, {max(losses):.4g}]" in rows[1]
    assert "| 3 | 5 |" in rows[1]  # seeds, steps
    assert "failed: RuntimeError: diverged: gru" in rows[2]
    png = (tmp_path / "sweep.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_load_sweep_reads_get_sweep_with_its_arg(tmp_path):
    exp = tmp_path / "exp.py"
    exp.write_text("def get_sweep(arg=None):\n    return [{'task.length': 3 if arg == 'quick' else 100}]\n")
    assert sweep_plan.load_sweep(f"{exp}:quick") == [{"task.length": 3}]
    assert sweep_plan.load_sweep(str(exp)) == [{"task.length": 100}]
    (tmp_path / "plain.py").write_text("def get_config(arg=None):\n    return None\n")
    with pytest.raises(ValueError, match="no get_sweep"):
        sweep_plan.load_sweep(str(tmp_path / "plain.py"))


# --------------------------------------------------------------------------- end to end


def test_script_end_to_end_with_the_real_loop(tmp_path):
    """``scripts/sweep.py`` on ``clipping_ablation.py:quick`` plus a failing point, run twice."""
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ablation = os.path.join(root, "experiments", "clipping_ablation.py")
    exp = tmp_path / "exp.py"
    exp.write_text(
        "import importlib.util\n"
        f"_spec = importlib.util.spec_from_file_location('clipping_ablation', {ablation!r})\n"
        "ca = importlib.util.module_from_spec(_spec)\n"
        "_spec.loader.exec_module(ca)\n"
        "def get_config(arg=None):\n    return ca.get_config('quick')\n"
        # the last point passes validation and fails while training (sgd at lr 1e30 diverges)
        "def get_sweep(arg=None):\n    return ca.get_sweep('quick') + "
        "[{'optim.name': 'sgd', 'optim.learning_rate': 1e30, 'optim.clip': 'none'}]\n"
    )
    workdir = tmp_path / "sweep"
    cmd = [sys.executable, os.path.join(root, "scripts", "sweep.py"), f"--config={exp}", f"--workdir={workdir}"]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    first = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=400)
    assert first.returncode == 1, first.stdout + first.stderr[-3000:]  # one point failed
    out = json.loads((workdir / "sweep.json").read_text())
    status = [p["status"] for p in out["points"]]
    assert status == ["done", "done", "done", "failed"], out
    assert "diverged" in out["points"][3]["error"]
    # the two global_norm thresholds trained as one run of 2 x 2 replicas
    assert [p["batched"] for p in out["points"][:3]] == [False, True, True]
    (run_dir,) = (workdir / "batched").iterdir()
    run = json.loads((run_dir / "result.json").read_text())
    assert [(r["optim.clip_value"], r["seed"]) for r in run["replicas"]] == [(0.5, 0), (0.5, 1), (1.0, 0), (1.0, 1)]
    for point, value in zip(out["points"][1:3], (0.5, 1.0)):
        mine = [r for r in run["replicas"] if r["optim.clip_value"] == value]
        assert json.loads((workdir / point["name"] / "result.json").read_text())["replicas"] == mine
        assert point["eval"]["loss"] == pytest.approx(float(np.median([r["eval"]["loss"] for r in mine])))
    assert len((workdir / "summary.md").read_text().splitlines()) == 4 + 2 + 4  # title, text, table

    # rerun: finished points are skipped, only the failed one runs again
    second = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=400)
    assert second.returncode == 1
    assert second.stdout.count("finished earlier, skipped") == 2, second.stdout
    again = json.loads((workdir / "sweep.json").read_text())
    assert [p["eval"] for p in again["points"]] == [p["eval"] for p in out["points"]]


# --------------------------------------------------------------------------- points that switch architecture


def _experiment(name, arg=None):
    import importlib.util

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location(f"exp_{name}", os.path.join(root, "experiments", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(arg) if arg else module.get_config()


@pytest.mark.parametrize("name, arg", [("adding", "lstm"), ("copy", "lstm"), ("delayed_recall", "gru"),
                                       ("digits", "rnn"), ("clipping_ablation", "quick")])
def test_points_that_change_the_architecture_validate_with_every_shipped_experiment(name, arg):
    """A sweep over ``model.name`` on any shipped experiment: every point's run config is valid
    (the base architecture's options that a point's architecture does not take are dropped)."""
    from seqgrad.train import config as cfg

    config = _experiment(name, arg)
    archs = ["rnn", "lstm", "gru", "mingru", "lru"]
    points = sweep.make_points(config, [{"model.name": a} for a in archs])
    for point in points:
        validation.validate(point.config)
        assert set(cfg.model_options(point.config)) <= set(models.info(point.config.model.name).options)
    # a model option the point sets on purpose must be one its architecture takes
    with pytest.raises(ValueError, match=r"sweep point 0 .*forget_bias.*architecture 'gru' takes no option"):
        sweep.make_points(config, [{"model.name": "gru", "model.options.forget_bias": 2.0}])


def test_a_point_may_switch_architecture_and_set_that_architectures_own_option():
    """``{"model.name": "skip_rnn", "model.options.skip": 5}`` on an lstm base: the option exists in the
    locked config once the point's architecture is set (its defaults, the base's shared values kept)."""
    config = _experiment("adding", "lstm")
    config_before = config.to_dict()
    (point,) = sweep.make_points(config, [{"model.name": "skip_rnn", "model.options.skip": 5}])
    assert point.config.model.name == "skip_rnn" and point.config.model.options.skip == 5
    assert point.config.model.options.num_layers == config.model.options.num_layers  # shared option kept
    assert "forget_bias" not in point.config.model.options
    assert config.to_dict() == config_before  # the base is not modified
    with pytest.raises(ValueError, match=r"sweep point 0 .*skip.*architecture 'gru' takes no option"):
        sweep.make_points(config, [{"model.name": "gru", "model.options.skip": 5}])
