"""Restoring trained runs, task-input Jacobian profiles and gate statistics."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import models
from seqgrad.gradflow import gates
from seqgrad.jobs import trained
from seqgrad.train import config as cfg
from seqgrad.train import loop
from tests.conftest import tiny_adding_run

H, D, T = 5, 2, 7


def _model(name, **options):
    model = models.create(name, hidden_size=H, **options)
    x = jax.random.normal(jax.random.key(0), (3, T, D))
    return model, model.init(jax.random.key(1), x), x


def test_lstm_forget_gate_rebuilds_the_cell():
    # Recompute every gate from h and the parameters, then run c_t = f c_{t-1} + i c̃ and
    # h_t = o tanh(c_t) in NumPy: it must give the model's h (an independent check of the layout).
    model, params, x = _model("lstm")
    p = params["params"]["layer_0"]
    h = np.asarray(model.apply(params, x))
    f = np.asarray(gates.gate_sequence("lstm", p, x, jnp.asarray(h)))
    h_prev = np.concatenate([np.zeros_like(h[:, :1]), h[:, :-1]], axis=1)
    z = h_prev @ np.asarray(p["recurrent_kernel"]) + np.asarray(x) @ np.asarray(p["input_kernel"]) + np.asarray(p["bias"])
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    i, f_ref, o, g = sig(z[..., :H]), sig(z[..., H : 2 * H]), sig(z[..., 2 * H : 3 * H]), np.tanh(z[..., 3 * H :])
    np.testing.assert_allclose(f, f_ref, rtol=1e-5, atol=1e-6)
    c = np.zeros((3, H))
    for t in range(T):
        c = f_ref[:, t] * c + i[:, t] * g[:, t]
        np.testing.assert_allclose(o[:, t] * np.tanh(c), h[:, t], rtol=1e-4, atol=1e-5)


def test_gate_statistics_closed_form_with_zero_weights():
    # All weights zero: f = σ(b_f) everywhere (LSTM); GRU carry 1 − z = 1 − σ(b_z).
    model, params, x = _model("lstm", forget_bias=3.0)
    zero = jax.tree.map(jnp.zeros_like, params)
    layer = {**zero["params"]["layer_0"], "bias": params["params"]["layer_0"]["bias"]}
    f = gates.gate_sequence("lstm", layer, x, jnp.zeros((3, T, H)))
    stats = gates.gate_statistics("lstm", f, threshold=0.95)
    sig3 = 1 / (1 + np.exp(-3.0))  # 0.9526 > 0.95
    assert stats["mean"] == pytest.approx(sig3, rel=1e-6) and stats["fraction_units_above"] == 1.0
    model, params, x = _model("gru", update_bias=-2.0)
    layer = {k: (v if k == "bias" else jnp.zeros_like(v)) for k, v in params["params"]["layer_0"].items()}
    stats = gates.gate_statistics("gru", gates.gate_sequence("gru", layer, x, jnp.zeros((3, T, H))), threshold=0.95)
    assert stats["carry"] == "1 - z" and stats["mean"] == pytest.approx(1 - 1 / (1 + np.exp(2.0)), rel=1e-6)
    assert stats["fraction_units_above"] == 0.0  # 0.881 < 0.95
    with pytest.raises(ValueError, match="model.name='rnn'"):
        gates.gate_sequence("rnn", layer, x, jnp.zeros((3, T, H)))


def test_load_restores_the_newest_checkpoint_and_profiles_task_inputs(tmp_path):
    c = tiny_adding_run(8)
    workdir = str(tmp_path / "run")
    result = loop.train_and_evaluate(c, workdir)
    run = trained.load(workdir)
    assert run.step == 6 and run.config.model.name == "gru"
    assert jax.tree.leaves(run.params)[0].shape[0] == 2  # both replicas
    assert run.eval == result["eval"]
    # The restored replica reproduces the trained model's loss on a fixed batch.
    inputs, targets, mask = run.trainer.task.batch(jax.random.key(5), 16)
    params = run.replica(1)
    profile = trained.input_profile(run.trainer, params, inputs)
    assert profile.shape == (8,) and np.all(profile >= 0)
    # Finite differences of ‖∂ŷ/∂x_t‖ on one step of one sequence (float32: loose tolerance).
    x = inputs[:1]
    one = trained.input_profile(run.trainer, params, x)
    eps, t = 1e-2, 3
    rows = []
    for d in range(x.shape[-1]):
        bump = jnp.zeros_like(x).at[0, t, d].set(eps)
        rows.append((run.trainer.apply(params, x + bump) - run.trainer.apply(params, x - bump))[0, -1] / (2 * eps))
    assert one[t] == pytest.approx(float(jnp.linalg.norm(jnp.stack(rows))), rel=2e-2, abs=1e-5)


def test_load_names_a_bad_workdir(tmp_path):
    with pytest.raises(ValueError, match="no readable config.json"):
        trained.load(str(tmp_path))
    os.makedirs(tmp_path / "w")
    c = cfg.base_config()
    c.model.hidden_size = 4
    from seqgrad import jsonio

    jsonio.write_json(str(tmp_path / "w" / "config.json"), c.to_dict())
    with pytest.raises(ValueError, match="holds no checkpoint"):
        trained.load(str(tmp_path / "w"))


def test_learned_verdicts_follow_the_numbers():
    import ml_collections

    from seqgrad.jobs import learned

    def entry(loss, params, frac=(0.0, 0.0), jac=(1e-3, 1e-3)):
        at = lambda f, j: {"gates": {"fraction_units_above": f}, "state_jacobian_norm": [1.0, j]}  # noqa: E731
        return {"init": at(frac[0], jac[0]), "trained": at(frac[1], jac[1]), "num_params": params,
                "steps_per_s": 10.0, "trained_run": {"eval": {"loss": loss}}, "baseline": {"loss": 1 / 6}}

    config = ml_collections.ConfigDict({"distances": [1, 199], "gate_threshold": 0.95, "success_fraction": 0.1,
                                        "train_configs": {"rnn": {"task": {"length": 200}}}})
    results = {"lstm": entry(1e-3, 100, (0.1, 0.6), (1e-5, 1e-2)), "gru": entry(1e-3, 75), "rnn": entry(0.16, 25)}
    rows = {r["claim"][:10]: r["verdict"] for r in learned.verdicts(results, config)}
    assert list(rows.values()) == ["supported", "supported", "supported"]
    results["lstm"] = entry(1e-3, 100, (0.6, 0.1), (1e-5, 1e-2))  # training closed the gates
    results["rnn"] = entry(1e-3, 25)  # the RNN solved it
    verdicts = [r["verdict"] for r in learned.verdicts(results, config)]
    assert verdicts == ["not supported", "supported", "not supported"]
    nobody = {k: entry(0.16, p) for k, p in (("lstm", 100), ("gru", 75), ("rnn", 25))}
    verdicts = [r["verdict"] for r in learned.verdicts(nobody, config)]
    assert verdicts[1].startswith("inconclusive") and verdicts[2].startswith("inconclusive")


def test_learnability_summary_from_a_sweep(tmp_path):
    from seqgrad import jsonio
    from seqgrad.jobs import learnability

    points = []
    # lstm: both seeds solve T = 50, one of two solves T = 100, none T = 200 (chance 1/6, solved <= 1/60).
    for T, losses in ((50, (1e-3, 2e-3)), (100, (1e-3, 0.1)), (200, (0.16, 0.17))):
        name = f"lstm-{T}"
        points.append({"name": name, "status": "done", "baseline": {"loss": 1 / 6},
                       "overrides": {"model.name": "lstm", "task.name": "adding", "task.length": T}})
        os.makedirs(tmp_path / name)
        jsonio.write_json(str(tmp_path / name / "result.json"),
                          {"replicas": [{"seed": s, "eval": {"loss": v}} for s, v in enumerate(losses)]})
    points.append({"name": "gru-50", "status": "failed", "overrides": {}})
    jsonio.write_json(str(tmp_path / "sweep.json"), {"points": points})
    jsonio.write_json(str(tmp_path / "gf.json"), {"architectures": {
        "lstm_cell_fb0": {"arch": "lstm", "memory_horizon": {"median": 13.0}},
        "lstm": {"arch": "lstm", "memory_horizon": {"median": 37.0}}}})
    table = learnability.summarize(str(tmp_path), gradient_flow_json=str(tmp_path / "gf.json"))
    cells = table["lstm"]["adding"]
    assert [cells[T]["success"] for T in (50, 100, 200)] == [1.0, 0.5, 0.0]
    assert cells[100]["eval_loss"] == pytest.approx(0.0505)
    assert learnability.largest_solved(cells) == 100
    text = (tmp_path / "learnability.md").read_text()
    assert "| lstm | 100 | 37.0 |" in text and (tmp_path / "learnability.png").exists()
    with pytest.raises(ValueError, match="sweep.json"):
        learnability.summarize(str(tmp_path / "lstm-50"))
