"""Every figure seqgrad writes is readable for any number of entries: after drawing, all of its text
(titles, labels, tick labels, legends, colour bars) lies inside the page, titles do not run into the
panels, and the labels read as intended (mathtext, ``clip=none``)."""

from __future__ import annotations

import ast
import json
import pathlib
import types

import numpy as np
import pytest
from matplotlib.text import Text

from seqgrad.report import figures, learnability, learned, memory_curse, plots, sweep, training
from seqgrad.report.record import Condition

ROOT = pathlib.Path(__file__).resolve().parents[1]
GRID = [Condition(s, T) for s in (0.1, 1.0, 3.0) for T in (64, 128)]
NAMES = ["rnn", "orthogonal_rnn", "indrnn", "cornn", "attention_rnn", "lstm", "gru", "slstm", "mingru", "minlstm",
         "residual_rnn", "skip_rnn_k8", "lru", "rg_lru", "s6", "mlstm", "transformer", "dilated_conv",
         "lstm_trained_on_adding"]


def _entry(name: str, seed: int = 0, T: int = 64, H: int = 8, trained: bool = False):
    """The attributes of a main-job entry record that the plots read."""
    rng = np.random.default_rng(seed)
    d = np.arange(T)
    profile = np.exp(-0.05 * d) * (1 + 0.1 * rng.random(T))
    conditions = [types.SimpleNamespace(condition=c, T=c.T,
                                        jacobian_norm=np.exp(-0.05 * c.input_scale * np.arange(c.T))) for c in GRID]
    return types.SimpleNamespace(
        arch=name.split("_k")[0].removesuffix("_trained_on_adding"), distance=list(d), regime="vanishing",
        jacobian_norm=profile, jacobian_norm_raw=profile, jacobian_norm_q25=0.8 * profile,
        jacobian_norm_q75=1.2 * profile, jacobian_norm_float64=None, prediction={"rate": -0.05},
        singular_values=np.exp(-0.05 * d)[:, None] * np.linspace(1, 0.1, H)[None], site="hidden",
        seed_experiment={"contribution_norm": {"median": list(profile)}, "lengths": [16, 32, 64],
                         "gradient_norm": {"median": [1.0, 0.5, 0.2]}},
        conditions=conditions, trained={"step": 3000} if trained else None)


def _claim(text: str, verdicts: list[str]):
    by_condition = [types.SimpleNamespace(verdict=v) for v in verdicts]
    return types.SimpleNamespace(claim=text, verdict=verdicts[0], by_condition=by_condition)


ONE = {"lstm": _entry("lstm")}
MANY = {name: _entry(name, seed=i, trained=name.endswith("trained_on_adding")) for i, name in enumerate(NAMES)}


def _named_texts(fig) -> list[Text]:
    """The texts whose place the figure decides: its own, the panels' titles and labels, the legends'."""
    texts = list(fig.texts) + [t for legend in fig.legends for t in legend.get_texts()]
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        texts += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
        if ax.get_legend() is not None:
            texts += ax.get_legend().get_texts()
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def assert_inside(fig) -> None:
    """Everything drawn, text included, lies inside the page (1 px of slack)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    page = fig.bbox
    out = [f"{t.get_text()!r} at {t.get_window_extent(renderer).bounds}" for t in _named_texts(fig)
           if not _contains(page, t.get_window_extent(renderer))]
    drawn = fig.get_tightbbox(renderer).transformed(fig.dpi_scale_trans)  # display units: pixels
    assert not out, f"text outside the {page.width:.0f}×{page.height:.0f} px page: {out}"
    assert _contains(page, drawn), f"drawn extent {drawn.bounds} exceeds the page {page.bounds}"


def _contains(page, box, slack: float = 1.0) -> bool:
    return (box.x0 >= page.x0 - slack and box.y0 >= page.y0 - slack and box.x1 <= page.x1 + slack
            and box.y1 <= page.y1 + slack)


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


# --------------------------------------------------------------------------- the main job's figures


@pytest.mark.parametrize("results", [ONE, MANY], ids=["one entry", "many entries"])
def test_main_job_figures_keep_every_text_inside_the_page(tmp_path, results):
    rows = [_claim("vanilla RNN gradients vanish exponentially in the distance d = T-1-t", ["confirmed"] * 6),
            _claim("LSTM's cell path preserves the gradient", ["refuted", "qualified"] * 3)]
    figs = {
        "norms": plots.norm_vs_distance(results, str(tmp_path / "norms.png"), dpi=50),
        "spectra": plots.singular_value_spectra(results, str(tmp_path / "spectra.png"), dpi=50, columns=6),
        "decomposition": plots.weight_gradient(results, str(tmp_path / "decomposition.png"), dpi=50),
        "verdicts": plots.verdict_matrix(rows[: len(results)], GRID, str(tmp_path / "verdicts.png"), dpi=50),
        "conditions": plots.norm_by_condition(results, GRID, str(tmp_path / "conditions.png"), dpi=50, columns=6),
    }
    for name, fig in figs.items():
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert_inside(fig)


def test_one_entry_norm_figure_wraps_its_long_title_to_the_page(tmp_path):
    fig = plots.norm_vs_distance(ONE, str(tmp_path / "norms.png"), dpi=50)
    title = fig._suptitle.get_text()
    assert "\n" in title and "theory's rate" in title  # the whole explanation, broken into lines
    assert_inside(fig)


def test_condition_panels_are_sized_to_their_labels_and_the_legend_covers_no_panel(tmp_path):
    for results in (ONE, MANY):
        fig = plots.norm_by_condition(results, GRID, str(tmp_path / "c.png"), dpi=50, columns=6)
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        panels = [ax for ax in fig.axes if ax.get_visible()]
        legend = fig.legends[0].get_window_extent(renderer)
        assert [t.get_text() for t in fig.legends[0].get_texts()] == [
            "input scale s = 0.1", "input scale s = 1", "input scale s = 3", "T = 64", "T = 128"]
        for ax in panels:
            box = ax.get_window_extent(renderer)
            # the plotting area keeps most of its 3.2 × 2.5 inch cell, whatever the labels around it need
            assert box.width / fig.dpi > 2.2 and box.height / fig.dpi > 1.6, box.bounds
            assert not _overlap(box, legend)
            # the figure's y label is no taller than the panels it labels
        column = fig._supylabel.get_window_extent(renderer)
        assert column.height <= max(ax.get_window_extent(renderer).y1 for ax in panels) - min(
            ax.get_window_extent(renderer).y0 for ax in panels)
        assert_inside(fig)


def test_trained_entries_are_marked_in_legends_and_titles(tmp_path):
    results = {"lstm": _entry("lstm"), "lstm_trained_on_adding": MANY["lstm_trained_on_adding"]}
    norms = plots.norm_vs_distance(results, str(tmp_path / "n.png"), dpi=50)
    labels = [t.get_text() for ax in norms.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert labels == ["lstm (vanishing)", "lstm_trained_on_adding (vanishing, trained 3000 steps)"]
    spectra = plots.singular_value_spectra(results, str(tmp_path / "s.png"), dpi=50, columns=2)
    assert [ax.get_title() for ax in spectra.axes[:2]] == [
        "lstm (hidden)", "lstm_trained_on_adding (hidden, trained 3000 steps)"]


def test_profile_labels_are_mathtext():
    assert plots.JACOBIAN_NORM == r"$\Vert\partial h_{T-1}/\partial h_{T-1-d}\Vert_2$"
    assert training.Y_LABEL == r"$\Vert\partial h_{T-1}/\partial h_t\Vert_2$"


# --------------------------------------------------------------------------- a training run's figure


def test_training_plot_renders_h_T_minus_1_as_math(tmp_path):
    rows = [{"step": s, "norms": np.exp(-0.1 * np.arange(20) * (1 - s / 1200)).tolist()} for s in range(0, 1500, 100)]
    (tmp_path / "gradflow.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert training.plot_snapshots(str(tmp_path)) == str(tmp_path / "gradflow.png")
    assert (tmp_path / "gradflow.png").stat().st_size > 0
    assert training.plot_snapshots(str(tmp_path / "nothing")) is None


def test_training_figure_labels_and_colour_scale(tmp_path, monkeypatch):
    saved = {}
    monkeypatch.setattr(figures, "save", lambda fig, path, dpi: saved.setdefault("fig", fig) and path)
    rows = [{"step": s, "norms": [1.0, 0.5, None, 0.1]} for s in range(0, 1500, 100)]  # 15 snapshots
    (tmp_path / "gradflow.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    training.plot_snapshots(str(tmp_path))
    fig = saved["fig"]
    ax = fig.axes[0]
    assert ax.get_ylabel() == r"$\Vert\partial h_{T-1}/\partial h_t\Vert_2$"
    assert ax.get_xlabel() == r"distance $T-1-t$ (steps)"
    assert ax.get_legend() is None and fig.axes[1].get_ylabel() == "training step"  # a colour bar names the steps
    assert_inside(fig)


# --------------------------------------------------------------------------- a sweep's figure


def _point(model, T, clip, value, loss):
    return {"name": f"{model}-{T}-{clip}-{value}", "status": "done", "eval": {"loss": loss},
            "spread": {"loss": [loss / 2, loss * 2]}, "baseline": {"loss": 1.0},
            "overrides": {"model.name": model, "task.length": T, "optim.clip": clip, "optim.clip_value": value}}


def test_sweep_plot_labels_clip_none_without_a_threshold(tmp_path):
    points = [_point(m, T, clip, value, 0.1 + 0.01 * T)
              for m in ("rnn", "lstm") for T in (10, 30, 100)
              for clip, value in (("none", 1.0), ("global_norm", 0.5), ("global_norm", 1.0))]
    fig = sweep.figure({"points": points})
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "name=rnn, clip=none" in labels and "name=lstm, clip=none" in labels
    assert "name=rnn, clip=global_norm, clip_value=0.5" in labels and "chance level" in labels
    assert not [label for label in labels if "clip=none," in label or "clip=," in label]
    assert_inside(fig)
    assert sweep.plot_sweep({"points": points}, str(tmp_path / "sweep.png")) == str(tmp_path / "sweep.png")


def test_sweep_bar_groups_name_a_none_value(tmp_path):
    points = [_point("rnn", 10, clip, 1.0, loss) for clip, loss in ((None, 0.3), ("value", 0.2))]
    fig = sweep.figure({"points": points})
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["none", "value"]
    assert_inside(fig)


# --------------------------------------------------------------------------- the other jobs' figures


@pytest.mark.parametrize("archs", [["rnn"], ["gru", "lru", "lstm", "rnn", "transformer_with_a_long_name"]])
def test_learnability_title_clears_the_panels(tmp_path, archs):
    rng = np.random.default_rng(0)
    tasks = ["adding", "copy"]
    table = {a: {t: {T: {"success": float(rng.random())} for T in (10, 30, 100, 300)} for t in tasks} for a in archs}
    fig = learnability.plot(table, tasks, {"rnn": 12.0, "lstm": 40.5}, str(tmp_path / "learnability.png"))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    title = fig._suptitle.get_window_extent(renderer)
    for ax in fig.axes:
        assert not _overlap(title, ax.get_tightbbox(renderer)), (ax.get_title(), ax.get_tightbbox(renderer).bounds)
    rows = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert rows == [f"{a} (h₀ 12)" if a == "rnn" else f"{a} (h₀ 40.5)" if a == "lstm" else a for a in sorted(archs)]
    assert_inside(fig)


def test_learned_and_curse_of_memory_figures_keep_their_text_inside(tmp_path):
    profile = {"input_profile": np.exp(-0.1 * np.arange(30)).tolist()}
    for results in ({"lstm": {"init": profile, "trained": profile}},
                    {a: {"init": profile, "trained": profile} for a in ("rnn", "lstm", "gru")}):
        fig = learned.plot(results, str(tmp_path / "learned.png"))
        assert fig.axes[0].get_ylabel() == learned.Y_LABEL
        assert_inside(fig)
    lam = np.array([0.5, 0.9, 0.99])
    curse = {"linear": {"lambdas": lam, "param_sensitivity": 1 / (1 - lam) ** 3, "slope": -3.0,
                        "closed_form": {"param_sensitivity": 1 / (1 - lam) ** 3}}}
    assert_inside(memory_curse.plot(curse, str(tmp_path / "curse.png")))


# --------------------------------------------------------------------------- where plotting lives


def test_wrap_never_breaks_a_mathtext_span():
    text = r"Singular values of $J(d) = \partial h_{T-1}/\partial h_{T-1-d}$ by distance d, every one of them"
    lines = figures.wrap(text, width=2.0, fontsize=10).splitlines()
    assert len(lines) > 1 and all(line.count("$") % 2 == 0 for line in lines)
    assert " ".join(lines) == text


def _imports(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
    return names


def test_plotting_lives_only_in_report_and_report_imports_no_job():
    for path in (ROOT / "seqgrad").rglob("*.py"):
        names = _imports(path)
        where = path.relative_to(ROOT).as_posix()
        if not where.startswith("seqgrad/report/"):
            assert not [n for n in names if n.split(".")[0] == "matplotlib"], where
        else:
            assert not [n for n in names if n.startswith("seqgrad.jobs")], where
