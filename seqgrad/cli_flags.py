"""The scripts' flags: the ``--config`` file loaded and its ``--config.*`` overrides applied, every failure
one line and exit 2 (`parse_flags`, absl's flags parser for `seqgrad.cli.run`).

A config file that is missing or fails to load is one line naming the file, the line and the
exception; an unknown ``--config.<key>`` names the closest keys and the valid ones of its section.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
import traceback

from absl import flags

from seqgrad.train import errors


def fail(code: int, message: str) -> None:
    """Prints ``error: message`` as one line and exits with ``code``."""
    print(f"error: {one_line(message)}", file=sys.stderr, flush=True)
    sys.exit(code)


def one_line(message: str) -> str:
    """``message`` with its lines joined by "; " (keys listed on lines stay readable)."""
    parts = [p.strip() for p in str(message).splitlines() if p.strip()]
    return "; ".join(parts) if parts else "(no message)"


def flag_error_message(exc: BaseException) -> str:
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
        argv, extra = imported_options(argv, spec)
        if extra:  # ml_collections finds its overrides in sys.argv itself
            sys.argv[:] = argv
    try:
        rest = flags.FLAGS(argv)
    except flags.Error as e:
        fail(errors.EXIT_USAGE, flag_error_message(e))
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
        values = {key: literal(text) for key, text in extra.items()}
        with config.model.options.unlocked():
            config.model.options.update(values)
        try:  # an option the class does not take is refused, not dropped
            config_lib.check_overrides(config, {f"model.options.{k}": v for k, v in values.items()})
        except ValueError as e:
            fail(errors.EXIT_USAGE, str(e))
    return rest


def literal(text: str):
    import ast

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def imported_options(argv: list[str], spec: str) -> tuple[list[str], dict[str, str]]:
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
