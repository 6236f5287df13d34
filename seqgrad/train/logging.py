"""Where a run's numbers go: ``metrics.jsonl``, TensorBoard event files, a progress display.

* ``metrics.jsonl``: one JSON object per line, appended as the run goes; on resume
  from step N the rows after N (written after the last checkpoint by a run that
  was killed) are dropped first, so the file of a resumed run equals the file of
  an uninterrupted one.
* TensorBoard event files under ``tb/`` via `tensorboardX` (no TensorFlow).
* `Progress`: a `tqdm` bar with rate and ETA on a terminal, plain lines otherwise.
* `write_json_atomic`: write to a temporary file, fsync, rename, so a reader (or a
  run killed mid-write) never sees a partial file.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from typing import Any, TextIO


def write_json_atomic(path: str, obj: Any) -> None:
    """Writes ``obj`` as JSON to ``path`` atomically (temporary file + `os.replace`)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=2, default=_jsonable)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def clean(value: Any) -> Any:
    """JSON-safe copy: numpy scalars to floats, NaN/Inf to strings ``"nan"``, ``"inf"``."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if hasattr(value, "tolist"):
        value = value.tolist()
        return clean(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def read_jsonl(path: str) -> list[dict]:
    """The complete rows of a JSONL file (a torn last line is ignored)."""
    if not os.path.exists(path):
        return []
    rows = []
    with open(path) as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return rows


class JsonlLog:
    """Append-only JSON-lines log, truncated to rows with ``step <= resume_step`` on open."""

    def __init__(self, path: str, resume_step: int):
        self.path = path
        rows = read_jsonl(path)
        kept = [r for r in rows if r.get("step", 0) <= resume_step]
        if len(kept) != len(rows) or (os.path.exists(path) and _torn(path)):
            _rewrite(path, kept)
        self.file: TextIO = open(path, "a")

    def write(self, row: dict) -> None:
        self.file.write(json.dumps(clean(row)) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def _torn(path: str) -> bool:
    with open(path, "rb") as f:
        data = f.read()
    return bool(data) and not data.endswith(b"\n")


def _rewrite(path: str, rows: list[dict]) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".jsonl")
    with os.fdopen(fd, "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class TensorBoard:
    """Scalars to TensorBoard event files in ``directory`` (tensorboardX)."""

    def __init__(self, directory: str):
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(logdir=directory)

    def write(self, step: int, scalars: dict[str, float]) -> None:
        for key, value in scalars.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class Progress:
    """A `tqdm` bar on a terminal; otherwise one plain line per update with rate and ETA."""

    def __init__(self, total: int, initial: int, enabled: bool = True, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.total, self.step, self.enabled = total, initial, enabled
        self.start_step, self.start_time = initial, time.perf_counter()
        self.bar = None
        if enabled and self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, file=self.stream, unit="step", dynamic_ncols=True)

    def update(self, step: int, summary: dict[str, float]) -> None:
        text = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.items())
        if self.bar is not None:
            self.bar.update(step - self.step)
            self.bar.set_postfix_str(text, refresh=True)
        elif self.enabled:
            elapsed = time.perf_counter() - self.start_time
            rate = (step - self.start_step) / elapsed if elapsed > 0 else float("nan")
            eta = (self.total - step) / rate if rate > 0 else float("nan")
            print(f"step {step}/{self.total} {text} ({rate:.1f} steps/s, ETA {eta:.0f}s)", file=self.stream, flush=True)
        self.step = step

    def message(self, text: str) -> None:
        """A line that does not break the bar."""
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
