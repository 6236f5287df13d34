"""Where a run's numbers go: ``metrics.jsonl`` and TensorBoard event files.

* ``metrics.jsonl``: one JSON object per line, appended as the run goes; on resume
  from step N the rows after N (written after the last checkpoint by a run that
  was killed) are dropped first, so the file of a resumed run equals the file of
  an uninterrupted one. Non-finite numbers are written as JSON null with their
  reason beside them (`seqgrad.jsonio.with_reasons`). A file deleted while the
  run writes it is recreated (with a warning) at the next row.
* TensorBoard event files under ``tb/`` via `tensorboardX` (no TensorFlow).

The progress display is `seqgrad.report.progress.Progress`; JSON files are written
by `seqgrad.jsonio`.
"""

from __future__ import annotations

import logging
import os
from typing import TextIO

from seqgrad import jsonio

log = logging.getLogger(__name__)


class JsonlLog:
    """Append-only JSON-lines log, truncated to rows with ``step <= resume_step`` on open."""

    def __init__(self, path: str, resume_step: int):
        self.path = path
        bad: list[int] = []
        rows = jsonio.read_jsonl(path, bad)  # a garbage row is reported there and dropped here
        kept = [r for r in rows if isinstance(r.get("step", 0), int) and r.get("step", 0) <= resume_step]
        if bad or len(kept) != len(rows) or (os.path.exists(path) and _torn(path)):
            jsonio.write_text(path, "".join(jsonio.dumps_line(r) + "\n" for r in kept))
        self.file: TextIO = open(path, "a")

    def write(self, row: dict) -> None:
        if not os.path.exists(self.path):  # deleted while the run writes it: start it again
            log.warning("%s was deleted during the run; recreating it from step %s", self.path, row.get("step"))
            self.file.close()
            self.file = open(self.path, "a")
        self.file.write(jsonio.dumps_line(jsonio.with_reasons(row)) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def _torn(path: str) -> bool:
    with open(path, "rb") as f:
        data = f.read()
    return bool(data) and not data.endswith(b"\n")


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
