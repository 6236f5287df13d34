"""The one error layer of ``scripts/``: flags in, one line out on failure, a documented exit code.

`run(main)` replaces ``absl.app.run(main)``. Flag parsing (including loading the
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

import difflib
import errno
import os
import re
import signal
import sys
import traceback
from collections.abc import Callable

from absl import app, flags, logging

from seqgrad.report import progress
from seqgrad.train import errors


def fail(code: int, message: str) -> None:
    """Prints ``error: message`` as one line and exits with ``code``."""
    print(f"error: {one_line(message)}", file=sys.stderr, flush=True)
    sys.exit(code)


def one_line(message: str) -> str:
    """``message`` with its lines joined by "; " (keys listed on lines stay readable)."""
    parts = [p.strip() for p in str(message).splitlines() if p.strip()]
    return "; ".join(parts) if parts else "(no message)"


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
        return errors.EXIT_USAGE, _flag_error_message(exc)
    if isinstance(exc, (ValueError, KeyError, app.UsageError)):
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        return errors.EXIT_USAGE, str(text)
    if isinstance(exc, OSError):
        path = f" {exc.filename}" if exc.filename else ""
        return errors.EXIT_IO, f"cannot use{path}: {exc.strerror or exc}"
    hint = "" if os.environ.get("SEQGRAD_TRACEBACK") else " (set SEQGRAD_TRACEBACK=1 for the traceback)"
    return errors.EXIT_FAILED, f"internal error: {type(exc).__name__}: {exc}{hint}"


def _flag_error_message(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, flags.UnrecognizedFlagError) and exc.flagname.startswith("config."):
        return _unknown_config_key(exc.flagname[len("config."):])
    if "Traceback" in text:
        # ml_collections wraps the config file's own exception with its traceback:
        # keep the flag and the exception's own line.
        head = text.split(": Error whilst", 1)[0].removeprefix("flag ")
        lines = [ln.strip() for ln in text.splitlines() if re.match(r"^\s*[\w.]+(Error|Exception): ", ln)]
        last = re.sub(r"^[\w.]+(Error|Exception): ", "", lines[-1]) if lines else text.splitlines()[0]
        return f"{head}: {last}"
    return text


def _config_spec(argv: list[str]) -> str:
    """The value of the last ``--config=`` argument (the one absl keeps)."""
    given = [a.split("=", 1)[1] for a in argv[1:] if a.startswith("--config=")]
    return given[-1] if given else ""


def _load_config(spec: str):
    """``get_config(arg)`` of the config file ``"path.py[:arg]"`` (raises what it raises)."""
    import importlib.util

    path, _, arg = spec.partition(":")
    module_spec = importlib.util.spec_from_file_location("seqgrad_cli_config", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.get_config(arg) if arg else module.get_config()


def config_load_error(spec: str) -> str | None:
    """Why the config file ``"path.py[:arg]"`` cannot give a config, in one line with the
    file and line where it failed (a missing file, a syntax error, anything ``get_config``
    raises); None when it loads."""
    path = os.path.abspath(spec.partition(":")[0])
    if not os.path.isfile(path):
        return f"--config={spec}: cannot load the config file (No such file or directory: {path})"
    try:
        _load_config(spec)
    except SyntaxError as e:
        return f"--config={spec}: {e.filename or path}:{e.lineno}: SyntaxError: {e.msg}"
    except Exception as e:  # noqa: BLE001  whatever the file raises is reported, not its traceback
        frames = [f for f in traceback.extract_tb(e.__traceback__) if os.path.abspath(f.filename) == path]
        where = f"{path}:{frames[-1].lineno}" if frames else path
        return f"--config={spec}: {where}: {type(e).__name__}: {one_line(str(e))}"
    return None


def _known_keys(argv: list[str] | None = None) -> list[str]:
    """Dotted keys of the ``--config`` file's config (loaded again: when an override
    fails, ml_collections has not stored it yet); empty if it cannot be loaded."""
    try:
        return _flat_keys(_load_config(_config_spec(argv or sys.argv)).to_dict())
    except Exception:  # noqa: BLE001  the config itself failed to load: say only what we know
        return []


def _unknown_config_key(key: str) -> str:
    known = _known_keys()
    section, _, leaf = key.rpartition(".")
    siblings = [k.rpartition(".")[2] for k in known if k.rpartition(".")[0] == section]
    close = difflib.get_close_matches(leaf, siblings, n=2)
    hint = f"; did you mean {' or '.join(f'{section}.{c}' for c in close)}?" if close else ""
    valid = f"; valid keys of {section or 'the config'}: {', '.join(siblings)}" if siblings else ""
    return f"--config.{key}: unknown config key{hint}{valid}"


def _unknown_override(argv: list[str], exc: BaseException) -> str:
    """The first ``--config.<key>=`` argument naming no key of the loaded config."""
    known = set(_known_keys(argv))
    for arg in argv[1:]:
        if arg.startswith("--config."):
            key = arg[len("--config."):].split("=", 1)[0]
            if known and key not in known:
                return _unknown_config_key(key)
    return f"unknown config key: {str(exc).strip(chr(34) + chr(39))}"


def _flat_keys(tree, prefix: str = "") -> list[str]:
    out = []
    for k, v in tree.items():
        if isinstance(v, dict) and v:
            out += _flat_keys(v, f"{prefix}{k}.")
        else:
            out.append(f"{prefix}{k}")
    return out


def _os_reason(e: BaseException) -> str:
    while e.__cause__ is not None or e.__context__ is not None:
        if isinstance(e, OSError) and e.strerror:
            break
        e = e.__cause__ or e.__context__
    text = e.strerror if isinstance(e, OSError) and e.strerror else str(e).strip().splitlines()[-1]
    return text.strip() or type(e).__name__


def parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing with one-line errors (exit 2) and no stray positional arguments.

    The ``--config`` file is loaded once first, so that a file that is missing or fails
    to load (a syntax error, ``get_config`` raising anything) is one line naming the
    file, the line and the exception, not ml_collections' traceback or deferred error."""
    spec = _config_spec(argv)
    extra: dict[str, str] = {}
    if spec and "config" in flags.FLAGS:
        problem = config_load_error(spec)
        if problem:
            fail(errors.EXIT_USAGE, problem)
        argv, extra = _imported_options(argv, spec)
        if extra:  # ml_collections finds its overrides in sys.argv itself
            sys.argv[:] = argv
    try:
        rest = flags.FLAGS(argv)
    except flags.Error as e:
        fail(errors.EXIT_USAGE, _flag_error_message(e))
    except (AttributeError, KeyError) as e:  # ml_collections: an unknown --config.<key>
        fail(errors.EXIT_USAGE, _unknown_override(argv, e))
    except OSError as e:  # ml_collections: the --config file does not exist
        spec = _config_spec(argv)
        fail(errors.EXIT_USAGE, f"--config={spec}: cannot load the config file ({_os_reason(e)})")
    if len(rest) > 1:
        fail(errors.EXIT_USAGE, f"unexpected argument(s) {rest[1:]}: every setting is a --flag=value "
             f"(see {os.path.basename(argv[0])} --help)")
    if extra:
        from seqgrad.train import config as config_lib

        config = flags.FLAGS["config"].value
        values = {key: _literal(text) for key, text in extra.items()}
        with config.model.options.unlocked():
            config.model.options.update(values)
        try:  # an option the class does not take is refused, not dropped
            config_lib.check_overrides(config, {f"model.options.{k}": v for k, v in values.items()})
        except ValueError as e:
            fail(errors.EXIT_USAGE, str(e))
    return rest


def _literal(text: str):
    import ast

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _imported_options(argv: list[str], spec: str) -> tuple[list[str], dict[str, str]]:
    """Splits off ``--config.model.options.<key>=<value>`` arguments that name no key of
    the config when ``model.name`` is an import string (``"flax:GRUCell"``): such an
    architecture's options are its class's fields, which no experiment file lists.
    They are set after parsing (values read as Python literals, else strings), and the
    run's validation checks them against the class."""
    name_args = [a.split("=", 1)[1] for a in argv[1:] if a.startswith("--config.model.name=")]
    try:
        config = _load_config(spec)
        name = name_args[-1] if name_args else config.model.name
        known = set(config.model.options.keys())
    except Exception:  # noqa: BLE001  no model section: nothing to split off
        return argv, {}
    if ":" not in str(name):
        return argv, {}
    kept, extra = [], {}
    for arg in argv:
        key, sep, value = arg.removeprefix("--config.model.options.").partition("=")
        if arg.startswith("--config.model.options.") and sep and "." not in key and key not in known:
            extra[key] = value
        else:
            kept.append(arg)
    return kept, extra


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
    tb = report.exc_traceback
    while tb is not None:
        if "orbax" in tb.tb_frame.f_code.co_filename:
            return True
        tb = tb.tb_next
    return False


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

    app.run(guarded, flags_parser=parse_flags)
