"""Where a run's numbers go: ``metrics.jsonl`` and TensorBoard event files.

* ``metrics.jsonl``: one JSON object per line, appended as the run goes; on resume
  from step N the rows after N (written after the last checkpoint by a run that
  was killed) are dropped first, so the file of a resumed run equals the file of
  an uninterrupted one. Non-finite numbers are written as JSON null with their
  reason beside them (`seqgrad.jsonio.with_reasons`). A file deleted while the
  run writes it is recreated (with a warning) at the next row.
* TensorBoard scalars in one event file per run, ``tb/events.out.tfevents.seqgrad``
  (`TensorBoard`; the format of `tensorboardX`, no TensorFlow): the training rows
  under ``train/<metric>``, the final evaluation under ``eval/<metric>``. A resumed
  run appends to the same file after dropping what the killed run wrote after its
  last checkpoint, as for ``metrics.jsonl``. ``tensorboard --logdir DIR/tb`` shows it
  (``pip install tensorboard``; seqgrad itself needs only tensorboardX).

The progress display is `seqgrad.report.progress.Progress`; JSON files are written
by `seqgrad.jsonio`.
"""

from __future__ import annotations

import logging
import os
import struct
import time
from collections.abc import Iterator, Mapping
from typing import BinaryIO, TextIO

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
    """Scalars of one run in one TensorBoard event file, ``directory/events.out.tfevents.seqgrad``.

    ``write(step, row)`` logs a training row under ``train/<metric>``, ``write_eval(step,
    evaluation)`` the evaluation under ``eval/<metric>``; non-numbers are skipped. The file
    is opened at the first write. A run resumed from ``resume_step`` keeps the records of
    steps up to it, except evaluations at it (the resumed run evaluates again), and drops
    the rest, a torn last record included, before appending; without ``resume_step`` the
    first write decides (a training row at step s keeps steps below s). So a killed and
    resumed run leaves the file of an uninterrupted one, and TensorBoard sees one run.
    """

    FILENAME = "events.out.tfevents.seqgrad"

    def __init__(self, directory: str, resume_step: int | None = None):
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, self.FILENAME)
        self.resume_step = resume_step
        self.file: BinaryIO | None = None

    def write(self, step: int, scalars: Mapping[str, float]) -> None:
        """A training row: its numbers under ``train/<metric>`` at ``step``."""
        self._write(step, "train", scalars)

    def write_eval(self, step: int, evaluation: Mapping[str, float]) -> None:
        """An evaluation: its numbers under ``eval/<metric>`` at ``step``."""
        self._write(step, "eval", evaluation)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    def _write(self, step: int, group: str, scalars: Mapping[str, float]) -> None:
        from tensorboardX.proto import event_pb2, summary_pb2

        values = [summary_pb2.Summary.Value(tag=f"{group}/{key}", simple_value=float(value))
                  for key, value in scalars.items()
                  if isinstance(value, (int, float)) and not isinstance(value, bool)]
        if not values:
            return
        if self.file is None:
            resume = self.resume_step
            self._open(resume if resume is not None else step - 1 if group == "train" else step)
        event = event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary_pb2.Summary(value=values))
        self.file.write(_record(event.SerializeToString()))
        self.file.flush()

    def _open(self, resume_step: int) -> None:
        """Keeps the records of steps up to ``resume_step`` but its evaluations (and the file's version
        record), drops the rest, a torn tail included, and opens the file for appending."""
        from tensorboardX.proto import event_pb2

        kept, changed = [], False
        for data in read_records(self.path):
            event = event_pb2.Event.FromString(data)
            tags = [v.tag for v in event.summary.value]
            stale = event.step > resume_step or (event.step == resume_step and any(t.startswith("eval/") for t in tags))
            if not event.HasField("summary") or not stale:
                kept.append(data)
            else:
                changed = True
        if not kept:  # a new file starts with its version record, as every event file does
            version = event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2")
            kept, changed = [version.SerializeToString()], True
        if changed or _record_bytes(kept) != _size(self.path):
            temp = self.path + ".tmp"
            with open(temp, "wb") as f:
                f.write(b"".join(_record(data) for data in kept))
            os.replace(temp, self.path)
        self.file = open(self.path, "ab")


def read_records(path: str) -> Iterator[bytes]:
    """The payloads of the TFRecord file ``path`` (an event file), in order, up to the first torn or
    corrupt record (a run killed while writing); nothing if the file does not exist."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return
    at = 0
    while at + 12 <= len(data):
        header = data[at:at + 8]
        (length,) = struct.unpack("<Q", header)
        end = at + 12 + length + 4
        if end > len(data) or struct.unpack("<I", data[at + 8:at + 12])[0] != _masked_crc(header):
            return
        payload = data[at + 12:at + 12 + length]
        if struct.unpack("<I", data[end - 4:end])[0] != _masked_crc(payload):
            return
        yield payload
        at = end


def _record(payload: bytes) -> bytes:
    """One TFRecord: length, its masked CRC-32C, the payload, its masked CRC-32C."""
    header = struct.pack("<Q", len(payload))
    return header + struct.pack("<I", _masked_crc(header)) + payload + struct.pack("<I", _masked_crc(payload))


def _record_bytes(payloads: list[bytes]) -> int:
    return sum(len(p) + 16 for p in payloads)


def _size(path: str) -> int:
    return os.path.getsize(path) if os.path.exists(path) else -1


def _masked_crc(data: bytes) -> int:
    from tensorboardX.record_writer import masked_crc32c

    return masked_crc32c(data)
