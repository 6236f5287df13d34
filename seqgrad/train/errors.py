"""Why a run stopped, and the exit status each reason gives the scripts.

Every exception here carries a one-line message meant for the user and an
``exit_code``; `seqgrad.cli` prints the message and exits with the code:

    0    finished
    1    the sweep finished but some of its points failed; or an internal error
    2    usage or config error: a bad flag, a config key or value, a config file,
         or a workdir holding a run with another config (`ConfigMismatch`)
    3    I/O error: the workdir cannot be created or written, the disk is full
         (`WorkdirError`)
    4    the run diverged: non-finite loss or gradients, or a non-finite final
         evaluation (`Diverged`)
    5    the workdir is in use by another run (`WorkdirBusy`)
    128 + signal number (130 SIGINT, 143 SIGTERM): interrupted (`Interrupted`);
         the newest complete checkpoint is kept and a rerun resumes from it
"""

from __future__ import annotations

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_IO = 3
EXIT_DIVERGED = 4
EXIT_BUSY = 5
EXIT_SIGNAL_BASE = 128


def raised_in_orbax(tb) -> bool:
    """True when the traceback ``tb`` passes through orbax's code: what orbax's abandoned background reads
    report after their failure was already caught and reported in one line (`seqgrad.cli`,
    `seqgrad.train.checkpoint.quiet_abandoned_reads`)."""
    while tb is not None:
        if "orbax" in tb.tb_frame.f_code.co_filename:
            return True
        tb = tb.tb_next
    return False


class TrainingError(RuntimeError):
    """A run that cannot go on; its message says why. ``exit_code`` is for scripts."""

    exit_code = EXIT_FAILED


class ConfigMismatch(TrainingError):
    """The workdir holds a run with another config (or checkpoints of another state)."""

    exit_code = EXIT_USAGE


class WorkdirError(TrainingError):
    """The workdir cannot be created, read or written (not a directory, read-only, full)."""

    exit_code = EXIT_IO


class WorkdirBusy(TrainingError):
    """Another run holds the workdir's lock; ``pid`` is its process id (None if unknown)."""

    exit_code = EXIT_BUSY

    def __init__(self, message: str, pid: int | None):
        super().__init__(message)
        self.pid = pid


class Diverged(TrainingError):
    """Non-finite loss or gradients without ``optim.skip_nonfinite``, or a final evaluation
    that is not finite; ``step`` is the update."""

    exit_code = EXIT_DIVERGED

    def __init__(self, message: str, step: int):
        super().__init__(message)
        self.step = step


class Interrupted(TrainingError):
    """SIGTERM or SIGINT: a checkpoint was saved at ``step``."""

    def __init__(self, message: str, step: int, signum: int):
        super().__init__(message)
        self.step, self.signum = step, signum
        self.exit_code = EXIT_SIGNAL_BASE + signum
