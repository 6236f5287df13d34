"""Progress over a list of jobs: a tqdm bar on a terminal, one plain line per job otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

Item = TypeVar("Item")


def track(items: Iterable[Item], *, desc: str, label: Callable[[Item], str] = str, stream=None) -> Iterator[Item]:
    """Yields ``items``, reporting each one as it starts and the time the previous one took."""
    stream = stream or sys.stderr
    items = list(items)
    if stream.isatty():
        bar = tqdm(items, desc=desc, file=stream, unit="job")
        for item in bar:
            bar.set_postfix_str(label(item))
            yield item
        return
    total, start = len(items), time.perf_counter()
    for index, item in enumerate(items):
        begun = time.perf_counter()
        print(f"{desc} [{index + 1}/{total}] {label(item)} ...", file=stream, flush=True)
        yield item
        print(
            f"{desc} [{index + 1}/{total}] {label(item)} done in {time.perf_counter() - begun:.1f} s "
            f"(elapsed {time.perf_counter() - start:.1f} s)",
            file=stream,
            flush=True,
        )
