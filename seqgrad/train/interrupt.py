"""SIGTERM / SIGINT during a run: stop at the next chunk boundary, or now if it cannot.

The first signal only sets a flag that the loop reads between dispatches, so the
run saves a checkpoint and raises `Interrupted`. A run blocked inside one
dispatch (a hung collective, a very long chunk) never reads the flag, and Python
signal handlers only run on the main thread between bytecodes, so a blocked main
thread would never see a second signal either. Hence a watcher thread fed by
``signal.set_wakeup_fd`` (written by the C-level handler, whatever the main thread
is doing): on a second signal, or when ``grace_s`` seconds pass after the first
without the run stopping, it prints one line naming the newest complete
checkpoint and ends the process with ``os._exit(128 + signum)``. Checkpoints are
written atomically (orbax renames a step into place once complete), so exiting
at any moment loses nothing already saved.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator

SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def handle(grace_s: float, describe_saved: Callable[[], str]) -> Iterator[dict]:
    """Records SIGTERM / SIGINT in the yielded dict (``{"signum": n}``) instead of dying.

    Args:
      grace_s: seconds after the first signal before the process is ended anyway.
      describe_saved: returns a phrase naming the newest complete checkpoint, e.g.
        ``"step 200 in DIR/checkpoints"``; called from the watcher thread, so it
        must only read files.

    Outside the main thread (signals cannot be handled there) nothing is installed.
    """
    caught: dict[str, int] = {}
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def handler(signum, frame):
        caught.setdefault("signum", signum)

    read_fd, write_fd = os.pipe()
    stop_read, stop_write = os.pipe()
    os.set_blocking(write_fd, False)
    previous = {s: signal.signal(s, handler) for s in SIGNALS}
    previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    watcher = threading.Thread(
        target=_watch, args=(read_fd, stop_read, caught, grace_s, describe_saved), daemon=True, name="seqgrad-signals"
    )
    watcher.start()
    try:
        yield caught
    finally:
        signal.set_wakeup_fd(previous_fd)
        for s, h in previous.items():
            signal.signal(s, h)
        os.write(stop_write, b"x")
        watcher.join()
        for fd in (read_fd, write_fd, stop_read, stop_write):
            os.close(fd)


def _watch(read_fd: int, stop_fd: int, caught: dict, grace_s: float, describe_saved) -> None:
    first = deadline = None
    while True:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([read_fd, stop_fd], [], [], timeout)
        if stop_fd in ready:
            return
        if read_fd in ready:
            for signum in os.read(read_fd, 64):
                if signum not in SIGNALS:
                    continue
                if first is None:
                    first, deadline = signum, time.monotonic() + grace_s
                    caught.setdefault("signum", signum)
                else:
                    _force_exit(signum, f"{signal.Signals(signum).name} received again", describe_saved)
        elif deadline is not None and time.monotonic() >= deadline:
            name = signal.Signals(first).name
            _force_exit(first, f"{name} received and the run did not stop within {grace_s:g} s "
                        "(train.interrupt_grace_s)", describe_saved)


def _force_exit(signum: int, why: str, describe_saved) -> None:
    try:
        saved = describe_saved()
    except Exception as e:  # noqa: BLE001  never let the message stop the exit
        saved = f"unknown ({e})"
    print(f"error: {why}: exiting now; newest complete checkpoint: {saved}; rerun to resume",
          file=sys.stderr, flush=True)
    os._exit(128 + signum)
