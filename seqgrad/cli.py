"""The one error layer of ``scripts/``: flags in, one line out on failure, a documented exit code.

`run(main)` replaces ``absl.app.run(main)``. Flag parsing (`seqgrad.cli_flags`: loading the
``--config`` file and applying ``--config.*`` overrides) and ``main`` run inside
it; any failure prints a single line ``error: ...`` to stderr, never a traceback,
and exits with the code of `seqgrad.train.errors` (2 usage or config, 3 I/O,
4 diverged, 5 workdir busy, 128 + signal interrupted, 1 anything else).
``SEQGRAD_TRACEBACK=1`` adds the traceback of an unexpected error.

seqgrad's own warnings (its modules log through ``logging.getLogger(__name__)``)
print as plain lines, ``seqgrad: warning: ...``, not in absl's log format
(`seqgrad.report.progress.plain_messages`); other libraries' records keep absl's.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import traceback
from collections.abc import Callable

from absl import app, flags, logging

from seqgrad import cli_flags
from seqgrad.cli_flags import fail
from seqgrad.report import progress
from seqgrad.train import errors


def no_space(exc: BaseException) -> bool:
    """True when ``exc`` or an exception it was raised from is a full disk (ENOSPC)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(exc) or "Disk quota exceeded" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def describe(exc: BaseException) -> tuple[int, str]:
    """``(exit code, one-line message)`` for an exception escaping a script's ``main``."""
    if no_space(exc):
        where = getattr(exc, "filename", None)
        return errors.EXIT_IO, "no space left on device" + (f" writing {where}" if where else "") + (
            "; the checkpoints already on disk are intact: free space and rerun to resume"
        )
    if isinstance(exc, errors.TrainingError):
        return exc.exit_code, str(exc)
    if isinstance(exc, flags.Error):
        return errors.EXIT_USAGE, cli_flags.flag_error_message(exc)
    if isinstance(exc, (ValueError, KeyError, app.UsageError)):
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        return errors.EXIT_USAGE, str(text)
    if isinstance(exc, OSError):
        path = f" {exc.filename}" if exc.filename else ""
        return errors.EXIT_IO, f"cannot use{path}: {exc.strerror or exc}"
    hint = "" if os.environ.get("SEQGRAD_TRACEBACK") else " (set SEQGRAD_TRACEBACK=1 for the traceback)"
    return errors.EXIT_FAILED, f"internal error: {type(exc).__name__}: {exc}{hint}"


def quiet_logging() -> None:
    """Warnings only, unless ``--verbosity`` was given (orbax logs every save at INFO).

    Orbax's background save threads also log the traceback of a failed write (a full
    disk gives some 300 lines); the same exception reaches `run`, which reports it in
    one line, so those records are dropped unless ``--verbosity`` was given."""
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
        logging.get_absl_handler().addFilter(_drop_background_tracebacks)


def _drop_background_tracebacks(record) -> bool:
    return not (record.exc_info and "orbax" in (record.pathname or ""))


def _is_closed_loop(exc: BaseException | None) -> bool:
    return isinstance(exc, RuntimeError) and str(exc) == "Event loop is closed"


def _orbax_leftover(report) -> bool:
    """An "Exception ignored in <coroutine>" of an orbax read abandoned after the failure
    that was already caught (its message embeds a 100-line TensorStore spec)."""
    return errors.raised_in_orbax(report.exc_traceback)


def drop_closed_loop_reports() -> None:
    """Silences what TensorStore's and orbax's threads report after a failed restore.

    When one read of an orbax restore fails, orbax closes its event loop while
    TensorStore still completes the other reads; each completion then fails to reach
    the closed loop and is reported with a traceback (about 1 000 lines for a small
    state), and the abandoned read coroutines report their own errors at exit, after
    the one real error has already been caught and reported in one line. Only
    "Event loop is closed" and exceptions ignored inside orbax's code are dropped;
    every other report goes to the previous hook."""
    excepthook, unraisablehook = sys.excepthook, sys.unraisablehook

    def on_exception(kind, value, tb):
        if not _is_closed_loop(value):
            excepthook(kind, value, tb)

    def on_unraisable(report):
        if not (_is_closed_loop(report.exc_value) or _orbax_leftover(report)):
            unraisablehook(report)

    sys.excepthook, sys.unraisablehook = on_exception, on_unraisable


class _Terminated(BaseException):
    """SIGTERM outside a training loop (which handles it itself: `seqgrad.train.interrupt`)."""


def _terminate(signum, frame):
    raise _Terminated(signum)


def _newest_checkpoint() -> str:
    """The newest complete checkpoint under ``--workdir``, in words ("" without one)."""
    from seqgrad.train.checkpoint import complete_steps

    workdir = flags.FLAGS["workdir"].value if "workdir" in flags.FLAGS else None
    if not workdir:
        return ""
    directory = os.path.join(os.path.abspath(workdir), "checkpoints")
    steps = complete_steps(directory)
    return f"; newest complete checkpoint: step {steps[-1]} in {directory}" if steps else ""


def run(main: Callable[[list[str]], int | None]) -> None:
    """``absl.app.run(main)`` where every failure is one line and a documented exit code.

    SIGTERM outside a training loop (loading, restoring, compiling, writing reports)
    ends the script with one line naming the newest complete checkpoint and exit 143,
    not the silent default; training loops install their own handler (save, then stop)."""
    drop_closed_loop_reports()
    progress.plain_messages()
    signal.signal(signal.SIGTERM, _terminate)

    def guarded(argv):
        try:
            return main(argv)
        except SystemExit:
            raise
        except _Terminated:
            fail(errors.EXIT_SIGNAL_BASE + signal.SIGTERM,
                 f"SIGTERM received: stopped; nothing saved is lost{_newest_checkpoint()}; rerun to resume")
        except BaseException as e:  # noqa: BLE001  the one place a script turns errors into lines
            if isinstance(e, KeyboardInterrupt):
                fail(errors.EXIT_SIGNAL_BASE + 2, "interrupted (SIGINT)")
            code, message = describe(e)
            if code == errors.EXIT_FAILED and os.environ.get("SEQGRAD_TRACEBACK"):
                traceback.print_exc()
            fail(code, message)

    app.run(guarded, flags_parser=cli_flags.parse_flags)
