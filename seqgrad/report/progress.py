"""The one progress display: a `tqdm` bar on a terminal, plain lines otherwise.

* `Progress(total, initial)`: a counter of steps (a training run): ``update(step,
  summary)`` shows the summary numbers, rate and ETA; ``message(text)`` prints a line
  without breaking the bar.
* `track(items, desc=...)`: a list of jobs (an analysis, a sweep): each job is
  reported as it starts and with the time it took.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO, TypeVar

from tqdm import tqdm

Item = TypeVar("Item")


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
