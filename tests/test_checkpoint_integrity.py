"""Silent corruption of checkpoints: the SHA-256 manifest written after each commit is
checked before a restore; a step that fails it (or whose ``_CHECKPOINT_METADATA`` is
garbage) goes to ``corrupt/`` with one warning and the run resumes from the newest
verified step; a finished run's ``result.json`` is never replaced by a worse one.

Subprocesses (``scripts/train.py`` on the tiny RNN of ``tests/train_helpers.py``): what
is checked is what a user sees, the exit code and the lines on stderr.
"""

from __future__ import annotations

import json
import os

import pytest

from seqgrad.train import checkpoint
from tests import train_helpers as th

th.use_compilation_cache()


def _steps(workdir):
    return sorted(int(s) for s in os.listdir(workdir / "checkpoints") if s.isdigit())


def _largest_data_file(step_dir):
    files = [p for p in step_dir.rglob("*") if p.is_file() and "/d/" in str(p)]
    return max(files, key=lambda p: p.stat().st_size)


def _flip_64_bytes(path):
    """Overwrites 64 bytes in the middle of ``path``; the size stays the same."""
    data = bytearray(path.read_bytes())
    start = max(0, len(data) // 2 - 32)
    data[start:start + 64] = bytes((b ^ 0xFF) for b in data[start:start + 64])
    path.write_bytes(bytes(data))


def _lines(err):
    assert "Traceback" not in err, err[-3000:]
    return [ln for ln in err.splitlines() if ln.strip()]


def test_every_committed_step_has_a_manifest_its_files_match(tmp_path):
    assert th.run_script(tmp_path).returncode == 0
    assert _steps(tmp_path) == [20, 30, 40]
    assert checkpoint.verified_steps(str(tmp_path / "checkpoints")) == [20, 30, 40]
    manifest = json.loads((tmp_path / "checkpoints" / "40" / checkpoint.MANIFEST).read_text())["sha256"]
    assert "_CHECKPOINT_METADATA" in manifest and any("/d/" in k for k in manifest)
    # A file added after the commit breaks the manifest as much as a changed one.
    (tmp_path / "checkpoints" / "40" / "default" / "extra").write_bytes(b"x")
    assert "extra is not in it" in checkpoint.damage(str(tmp_path / "checkpoints" / "40"))


def test_silent_corruption_moves_the_step_aside_and_the_result_is_recomputed(tmp_path):
    assert th.run_script(tmp_path).returncode == 0
    good = th.result(tmp_path)
    _flip_64_bytes(_largest_data_file(tmp_path / "checkpoints" / "40"))
    proc = th.run_script(tmp_path)
    lines = _lines(proc.err)
    assert proc.returncode == 0, proc.err[-3000:]
    moved = [ln for ln in lines if "checkpoint 40" in ln and "moved to" in ln]
    assert len(moved) == 1 and "checksum manifest" in moved[0] and "silent corruption" in moved[0], lines
    assert f"resuming from step 30 (checkpoint {tmp_path / 'checkpoints' / '30'})" in proc.err
    assert [n.split("-")[0] for n in os.listdir(tmp_path / "corrupt")] == ["40"]
    # Retrained from the verified step 30: the same bits as the first run.
    again = th.result(tmp_path)
    assert again["step"] == 40 and not again.get("diverged") and again["eval"] == good["eval"]
    assert _steps(tmp_path) == [20, 30, 40]


def test_garbage_checkpoint_metadata_is_moved_once(tmp_path):
    assert th.run_script(tmp_path).returncode == 0
    (tmp_path / "checkpoints" / "40" / "_CHECKPOINT_METADATA").write_bytes(b"\x00garbage{")
    proc = th.run_script(tmp_path)
    assert proc.returncode == 0, proc.err[-3000:]
    lines = _lines(proc.err)
    assert any("checkpoint 40" in ln and "_CHECKPOINT_METADATA" in ln and "moved to" in ln for ln in lines), lines
    assert "resuming from step 30" in proc.err
    again = th.run_script(tmp_path)  # healthy now: nothing logged but the resume line
    assert again.returncode == 0 and _lines(again.err) == [
        f"resuming from step 40 (checkpoint {tmp_path / 'checkpoints' / '40'})"], again.err[-3000:]


def test_no_restorable_checkpoint_is_one_short_line(tmp_path):
    assert th.run_script(tmp_path, "--config.train.steps=20").returncode == 0
    for step in _steps(tmp_path):  # damaged beyond restoring and without a manifest to say so
        step_dir = tmp_path / "checkpoints" / str(step)
        (step_dir / checkpoint.MANIFEST).unlink()
        for data in step_dir.rglob("*"):
            if data.is_file() and "/d/" in str(data):
                data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    proc = th.run_script(tmp_path, "--config.train.steps=20")
    lines = _lines(proc.err)
    assert proc.returncode == 2, proc.err[-3000:]
    assert lines[-1].startswith("error: no checkpoint in") and "2 tried" in lines[-1] and len(lines[-1]) < 700, lines[-1]
    assert th.result(tmp_path)["step"] == 20  # the finished result is untouched


def test_a_finished_result_is_not_replaced_by_a_diverged_reevaluation(tmp_path, monkeypatch):
    from seqgrad import train
    from seqgrad.train import state

    config = th.tiny_config(**{"train.steps": 20})
    good = train.train_and_evaluate(config, str(tmp_path))
    evaluate = state.Trainer.evaluate
    monkeypatch.setattr(state.Trainer, "evaluate", lambda self, s: {k: v * float("nan") for k, v in evaluate(self, s).items()})
    with pytest.raises(train.Diverged, match="is kept.*result.diverged.json"):
        train.train_and_evaluate(config, str(tmp_path))
    assert th.result(tmp_path)["eval"] == json.loads(json.dumps(good["eval"]))
    assert json.loads((tmp_path / "result.diverged.json").read_text())["diverged"] is True


def _raised_in(filename: str, message: str) -> BaseException:
    """A ValueError whose traceback passes through code compiled under ``filename``."""
    namespace: dict = {}
    exec(compile(f"def fail():\n    raise ValueError({message!r})\n", filename, "exec"), namespace)
    try:
        namespace["fail"]()
    except ValueError as exc:
        return exc
    raise AssertionError("fail() did not raise")


def test_after_a_failed_restore_only_orbax_leftovers_are_silenced():
    import logging
    import warnings

    def kept(exc, msg="Future exception was never retrieved"):
        record = logging.LogRecord("asyncio", logging.ERROR, "base_events.py", 1771, msg, None,
                                   (type(exc), exc, exc.__traceback__) if exc else None)
        return checkpoint._abandoned_read_record(record)

    tensorstore = ValueError('OUT_OF_RANGE: Error opening "zarr" driver [tensorstore_spec=\'{}\']')  # raised in C
    in_orbax = _raised_in("/site-packages/orbax/checkpoint/_src/serialization/serialization.py", "OUT_OF_RANGE")
    elsewhere = _raised_in("/site-packages/somewhere/else.py", "a bug of somebody else")
    assert not kept(tensorstore) and not kept(in_orbax, "Task exception was never retrieved")
    assert kept(elsewhere) and kept(None) and kept(in_orbax, "Executing <Task> took 0.2 seconds")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        checkpoint.quiet_abandoned_reads()
        warnings.warn("coroutine 'Store._get_array_metadatas' was never awaited", RuntimeWarning)
        warnings.warn("another runtime warning", RuntimeWarning)
    assert [str(w.message) for w in caught] == ["another runtime warning"]
    logging.getLogger("asyncio").removeFilter(checkpoint._abandoned_read_record)
