"""A run's workdir: created and checked up front, and held by one run at a time.

`prepare(path)` creates the directory and turns every way it can be unusable (a
file in its place or above it, no permission, a read-only file system, a full
disk) into one `WorkdirError` line before anything is built.

`lock(path)` takes an exclusive, non-blocking ``fcntl.flock`` on ``path/.lock`` and
writes the holder's process id and host into it. A second run on the same
workdir gets `WorkdirBusy` naming that process id. The kernel drops the lock when
the holder exits, however it exits (also SIGKILL), so there is never a stale lock
to remove by hand. Only process 0 of a multi-process run takes it: the processes
of one run are one run.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
from collections.abc import Iterator

from seqgrad.train.errors import WorkdirBusy, WorkdirError

LOCK_FILE = ".lock"


def prepare(path: str) -> str:
    """Creates ``path`` (and its parents) if needed; its absolute path.

    Raises:
      WorkdirError: ``path`` or a parent is a file, or it cannot be created or written.
    """
    path = os.path.abspath(path)
    node = path
    while node and not os.path.exists(node):
        node = os.path.dirname(node)
    if node and not os.path.isdir(node):
        where = "is a file" if node == path else f"lies below {node}, which is a file"
        raise WorkdirError(f"--workdir={path} {where}; give a directory")
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, f".write-test-{os.getpid()}")  # one per process of a multi-host run
        with open(probe, "w") as f:
            f.write("ok\n")
        os.unlink(probe)
    except OSError as e:
        raise WorkdirError(f"--workdir={path} cannot be written: {_reason(e)}") from e
    return path


def _reason(e: OSError) -> str:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return "no space left on device"
    return e.strerror or str(e)


def holder(path: str) -> int | None:
    """The process id written into ``path/.lock`` by the run holding it, if readable."""
    try:
        with open(os.path.join(path, LOCK_FILE)) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


@contextlib.contextmanager
def lock(path: str, enabled: bool = True) -> Iterator[None]:
    """Holds the exclusive lock of the workdir ``path`` for the ``with`` block.

    Raises:
      WorkdirBusy: another process holds it (the message names its process id).
      WorkdirError: the lock file cannot be created.
    """
    if not enabled:
        yield
        return
    lock_path = os.path.join(path, LOCK_FILE)
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise WorkdirError(f"--workdir={path}: cannot create {LOCK_FILE}: {_reason(e)}") from e
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = holder(path)
            who = f"process {pid}" if pid is not None else "another process"
            raise WorkdirBusy(
                f"--workdir={path} is in use by another run ({who}); wait for it to finish, "
                "stop it, or use another --workdir",
                pid,
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        yield
    finally:
        os.close(fd)  # releases the flock
