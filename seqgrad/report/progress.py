"""The one progress display: a `tqdm` bar on a terminal, plain lines otherwise.

* `Progress(total, initial)`: a counter of steps (a training run): ``update(step,
  summary)`` shows the summary numbers, rate and ETA; ``message(text)`` prints a line
  without breaking the bar.
* `track(items, desc=...)`: a list of jobs (an analysis, a sweep): each job is
  reported as it starts and with the time it took.
* `run_all(items, fn, workers=...)`: the same jobs run ``workers`` at a time in
  threads, each reported as it ends.
* `plain_messages()`: seqgrad's log records (warnings by default) as plain lines
  ``seqgrad: warning: ...`` above any bar (the scripts call it, `seqgrad.cli.run`).
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import sys
import traceback
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO, TypeVar

from tqdm import tqdm

Item = TypeVar("Item")
Result = TypeVar("Result")


class Progress:
    """A `tqdm` bar on a terminal; otherwise one plain line per update with rate and ETA."""

    def __init__(self, total: int, initial: int = 0, enabled: bool = True, stream: TextIO | None = None,
                 unit: str = "step"):
        self.stream = stream or sys.stderr
        self.total, self.step, self.enabled, self.unit = total, initial, enabled, unit
        self.start_step, self.start_time = initial, time.perf_counter()
        self.bar = None
        if enabled and self.stream.isatty():
            self.bar = tqdm(total=total, initial=initial, file=self.stream, unit=unit, dynamic_ncols=True)

    def update(self, step: int, summary: dict[str, float] | None = None) -> None:
        text = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in (summary or {}).items())
        if self.bar is not None:
            self.bar.update(step - self.step)
            self.bar.set_postfix_str(text, refresh=True)
        elif self.enabled:
            elapsed = time.perf_counter() - self.start_time
            rate = (step - self.start_step) / elapsed if elapsed > 0 else float("nan")
            eta = (self.total - step) / rate if rate > 0 else float("nan")
            print(f"{self.unit} {step}/{self.total} {text} ({rate:.1f} {self.unit}s/s, ETA {eta:.0f}s)",
                  file=self.stream, flush=True)
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


def track(items: Iterable[Item], *, desc: str, label: Callable[[Item], str] = str, stream=None) -> Iterator[Item]:
    """Yields ``items``, reporting each one as it starts and the time the previous one took."""
    items = list(items)
    progress = Progress(len(items), 0, stream=stream, unit="job", enabled=False)
    stream = progress.stream
    if stream.isatty():
        bar = tqdm(items, desc=desc, file=stream, unit="job")
        for item in bar:
            bar.set_postfix_str(label(item))
            yield item
        return
    total, start = len(items), time.perf_counter()
    for index, item in enumerate(items):
        begun = time.perf_counter()
        progress.message(f"{desc} [{index + 1}/{total}] {label(item)} ...")
        yield item
        progress.message(
            f"{desc} [{index + 1}/{total}] {label(item)} done in {time.perf_counter() - begun:.1f} s "
            f"(elapsed {time.perf_counter() - start:.1f} s)"
        )


def run_all(items: Iterable[Item], fn: Callable[[Item], Result], *, workers: int, desc: str,
            label: Callable[[Item], str] = str, stream=None) -> list[Result]:
    """``[fn(item) for item in items]``, ``workers`` at a time in threads, each job reported as it ends.

    Results come back in the order of ``items``. The first job that raises stops the
    rest: jobs not yet started are cancelled and its exception is raised at once
    (jobs already running end on their own: a thread cannot be killed), so no
    partial result list is ever returned.
    ``workers=1`` runs the jobs in order in the calling thread.
    """
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        return [fn(item) for item in track(items, desc=desc, label=label, stream=stream)]
    progress = Progress(len(items), 0, stream=stream, unit="job", enabled=False)
    bar = tqdm(total=len(items), desc=desc, file=progress.stream, unit="job") if progress.stream.isatty() else None
    start, results = time.perf_counter(), [None] * len(items)

    def job(index: int):
        begun = time.perf_counter()
        out = fn(items[index])
        return index, out, time.perf_counter() - begun

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=desc.replace(" ", "-"))
    try:
        futures = [pool.submit(job, i) for i in range(len(items))]
        for done, future in enumerate(concurrent.futures.as_completed(futures), start=1):
            index, out, seconds = future.result()
            results[index] = out
            text = (f"{desc} [{done}/{len(items)}] {label(items[index])} done in {seconds:.1f} s "
                    f"(elapsed {time.perf_counter() - start:.1f} s)")
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(label(items[index]))
            else:
                progress.message(text)
    except BaseException:
        # Jobs not started are cancelled; running ones end on their own (the process waits
        # for them at exit; a second Ctrl-C ends it at once).
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        if bar is not None:
            bar.close()
    pool.shutdown(wait=True)
    return results


class PlainLines(logging.Handler):
    """A log record as one plain line on stderr, ``seqgrad: <level>: <message>``, printed above a
    progress bar rather than through it (``SEQGRAD_TRACEBACK=1`` adds a record's traceback)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = f"seqgrad: {record.levelname.lower()}: {record.getMessage()}"
            if record.exc_info and os.environ.get("SEQGRAD_TRACEBACK"):
                line += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
            tqdm.write(line, file=sys.stderr)
        except Exception:  # noqa: BLE001  logging's own rule: a failing handler reports, never raises
            self.handleError(record)


def plain_messages() -> None:
    """Prints the records of the ``seqgrad`` loggers through `PlainLines` only, not through the root
    logger's handlers (under ``absl.app`` those prefix ``W1206 12:17:06.905562 ... modelspec.py:126]``);
    their level still follows the root logger (absl's ``--verbosity``). Calling it again changes nothing."""
    logger = logging.getLogger("seqgrad")
    if not any(isinstance(h, PlainLines) for h in logger.handlers):
        logger.addHandler(PlainLines())
    logger.propagate = False
