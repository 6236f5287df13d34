"""`runlog.TensorBoard`: one event file per run, training rows under ``train/``, evaluations under
``eval/``, and a resumed run that leaves the file an uninterrupted run would have written."""

from __future__ import annotations

import os

from tensorboardX import SummaryWriter
from tensorboardX.proto import event_pb2
from tensorboardX.record_writer import RecordWriter

from seqgrad.train import runlog


def scalars(directory) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value), ...]}`` of the one event file in ``directory``."""
    files = os.listdir(directory)
    assert files == [runlog.TensorBoard.FILENAME], files
    events = [event_pb2.Event.FromString(r) for r in runlog.read_records(os.path.join(directory, files[0]))]
    assert events[0].file_version == "brain.Event:2"  # every event file opens with its version
    out: dict[str, list[tuple[int, float]]] = {}
    for event in events[1:]:
        for value in event.summary.value:
            out.setdefault(value.tag, []).append((event.step, round(value.simple_value, 6)))
    return out


def test_training_rows_and_the_evaluation_go_to_one_file(tmp_path):
    board = runlog.TensorBoard(str(tmp_path / "tb"))
    for step in (10, 20):
        board.write(step, {"loss": step / 100, "grad_norm": 1.0, "replicas": [1, 2], "diverged": False})
    board.write_eval(20, {"loss": 0.5, "mse": None})
    board.close()
    assert scalars(tmp_path / "tb") == {"train/loss": [(10, 0.1), (20, 0.2)],
                                        "train/grad_norm": [(10, 1.0), (20, 1.0)], "eval/loss": [(20, 0.5)]}


def test_a_resumed_run_appends_to_the_same_file_without_the_killed_runs_tail(tmp_path):
    board = runlog.TensorBoard(str(tmp_path))
    for step in (10, 20, 30):  # killed after step 30; its last checkpoint was at step 20
        board.write(step, {"loss": 1.0})
    board.file.close()
    with open(tmp_path / runlog.TensorBoard.FILENAME, "ab") as f:
        f.write(runlog._record(b"x" * 40)[:25])  # a record torn by the kill
    board = runlog.TensorBoard(str(tmp_path), resume_step=20)
    for step in (30, 40):
        board.write(step, {"loss": 0.5})
    board.write_eval(40, {"loss": 0.25})
    board.close()
    assert scalars(tmp_path) == {"train/loss": [(10, 1.0), (20, 1.0), (30, 0.5), (40, 0.5)], "eval/loss": [(40, 0.25)]}


def test_rerunning_a_finished_run_replaces_its_evaluation(tmp_path):
    board = runlog.TensorBoard(str(tmp_path))
    board.write(40, {"loss": 1.0})
    board.write_eval(40, {"loss": 0.3})
    board.close()
    board = runlog.TensorBoard(str(tmp_path), resume_step=40)  # nothing left to train: it evaluates again
    board.write_eval(40, {"loss": 0.3})
    board.close()
    assert scalars(tmp_path) == {"train/loss": [(40, 1.0)], "eval/loss": [(40, 0.3)]}


def test_without_a_resume_step_the_first_row_drops_what_it_rewrites(tmp_path):
    board = runlog.TensorBoard(str(tmp_path))
    for step in (10, 20, 30):
        board.write(step, {"loss": 1.0})
    board.close()
    board = runlog.TensorBoard(str(tmp_path))
    board.write(20, {"loss": 0.5})
    board.close()
    assert scalars(tmp_path) == {"train/loss": [(10, 1.0), (20, 0.5)]}


def test_a_fresh_run_in_an_old_workdir_starts_the_file_over(tmp_path):
    board = runlog.TensorBoard(str(tmp_path))
    board.write(10, {"loss": 1.0})
    board.close()
    board = runlog.TensorBoard(str(tmp_path), resume_step=0)
    board.write(10, {"loss": 0.5})
    board.close()
    assert scalars(tmp_path) == {"train/loss": [(10, 0.5)]}


def test_records_are_tensorboardX_records(tmp_path):
    """The framing and checksums are tensorboardX's: its writer's bytes equal ours, and its event files read back."""
    writer = RecordWriter(str(tmp_path / "raw"))
    writer.write(b"payload")
    writer.close()
    assert (tmp_path / "raw").read_bytes() == runlog._record(b"payload")
    summary = SummaryWriter(logdir=str(tmp_path / "tbx"))
    for step in range(5):
        summary.add_scalar("loss", step / 10, step)
    summary.close()
    (name,) = os.listdir(tmp_path / "tbx")
    events = [event_pb2.Event.FromString(r) for r in runlog.read_records(str(tmp_path / "tbx" / name))]
    assert [e.step for e in events if e.HasField("summary")] == [0, 1, 2, 3, 4]


def test_a_run_resumed_by_the_training_loop_keeps_one_event_file(tmp_path):
    """20 steps, then the same run extended to 40: one file whose training rows are those of the whole run."""
    from seqgrad import train
    from tests import train_helpers as th

    th.use_compilation_cache()
    train.train_and_evaluate(th.tiny_config(**{"train.steps": 20}), str(tmp_path))
    train.train_and_evaluate(th.tiny_config(), str(tmp_path))
    rows = th.metrics_rows(tmp_path)
    logged = scalars(tmp_path / "tb")
    assert [step for step, _ in logged["train/loss"]] == [10, 20, 30, 40]
    assert [value for _, value in logged["train/loss"]] == [round(r["loss"], 6) for r in rows]
