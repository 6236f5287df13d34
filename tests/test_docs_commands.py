"""Every shell command of README.md, docs/*.md and benchmarks/README.md that runs a script is a valid command.

A ```bash (or ```sh, ```shell) block is split into commands (``\\`` continuations
joined, ``&&``, ``;``, ``|`` and ``&`` separating). For every command that runs
Python (``python``, ``python3``, ``.venv/bin/python``):

* ``-m MODULE``: the module can be found;
* ``path.py``: the file exists; for ``scripts/*.py`` every ``--flag`` is one the
  script defines, the ``--config=`` file exists, and the config is loaded and
  overridden exactly as the script does it (ml_collections' ``config_flags`` with
  the script's own ``lock_config`` / ``accept_new_attributes``, and the import-string
  option rule of `seqgrad.cli`), then passed through the checks that script runs
  before anything compiles (the job's validation, the sweep's points, the memory
  estimates). Nothing is compiled or trained.

Any other command word naming a file of the repository (``bash benchmarks/x.sh``,
``sbatch scripts/x.sbatch``) must exist, and ``pip install -e '.[extra]'`` must name
extras of ``pyproject.toml``.

A page may ship a Python module its commands import: a ```python block right after
the line ``<!-- file: NAME.py -->`` is written to a temporary directory, which a
command prefixed with ``PYTHONPATH=.`` then finds (the page tells the reader to save
that block as NAME.py). A block preceded by ``<!-- no-run -->`` is skipped.

Each page is checked in a fresh interpreter: a module a page's command imports may
register an architecture, which must not leak into the other tests.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import pathlib
import re
import shlex
import subprocess
import sys
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]
SHELL = re.compile(r"(?P<marker><!-- no-run -->\s*\n)?```(?:bash|sh|shell)\n(?P<code>.*?)```", re.S)
FILE_BLOCK = re.compile(r"<!-- file: (?P<name>[\w./-]+\.py) -->\s*\n```python\n(?P<code>.*?)```", re.S)
PYTHON = re.compile(r"(^|/)python(3(\.\d+)?)?$")
ABSL_FLAGS = {"verbosity", "v", "logtostderr", "alsologtostderr", "helpfull", "help", "helpshort"}

# What each script checks before it compiles anything ("package.module:function").
JOB_ENTRIES = "seqgrad.jobs.gradient_flow.entries:build_entries"
MEMORY_CURSE = "seqgrad.jobs.memory_curse:check_config"
TRAIN_RESOURCES = "seqgrad.train.resources:check_training"


# --------------------------------------------------------------------------- reading the pages


def shell_blocks(text: str) -> list[str]:
    """The checked shell blocks of a Markdown text, in order."""
    return [m["code"] for m in SHELL.finditer(text) if not m["marker"]]


def page_files(text: str) -> dict[str, str]:
    """``{file name: code}`` of the page's ``<!-- file: NAME.py -->`` python blocks."""
    return {m["name"]: m["code"] for m in FILE_BLOCK.finditer(text)}


def commands(block: str) -> list[list[str]]:
    """The simple commands of a shell block, each a list of words (comments and operators dropped)."""
    text = re.sub(r"\\\n", " ", block)
    out: list[list[str]] = []
    for line in text.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        words: list[str] = []
        for token in lexer:
            if token and set(token) <= set(";&|"):
                if words:
                    out.append(words)
                words = []
            else:
                words.append(token)
        if words:
            out.append(words)
    return out


def test_commands_split_on_operators_continuations_and_comments():
    block = ("python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest -q\n"
             "# a comment\n.venv/bin/python scripts/train.py --config=a.py \\\n    --workdir=d &  # note\n")
    assert commands(block) == [["python3", "-m", "venv", ".venv"], [".venv/bin/pip", "install", "-q", "-e", ".[test]"],
                               [".venv/bin/python", "-m", "pytest", "-q"],
                               [".venv/bin/python", "scripts/train.py", "--config=a.py", "--workdir=d"]]


# --------------------------------------------------------------------------- checking one command


def _load(spec: str):
    """The function ``"package.module:name"``."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def _flags(args: list[str]) -> list[tuple[str, str | None]]:
    out = []
    for arg in args:
        if not arg.startswith("--"):
            raise ValueError(f"stray argument {arg!r}: every setting is a --flag=value")
        name, sep, value = arg[2:].partition("=")
        out.append((name, value if sep else None))
    return out


def _defined_flags(source: str) -> set[str]:
    return set(re.findall(r"DEFINE_\w+\(\s*[\"'](\w+)[\"']", source))


def check_script(script: str, args: list[str]) -> None:
    """Loads, overrides and validates the config of ``script args`` as the script would (raises on a problem)."""
    from absl import flags
    from ml_collections import config_flags

    source = (ROOT / script).read_text()
    defined = _defined_flags(source)
    given = _flags(args)
    for name, value in given:
        base = name.split(".", 1)[0]
        if base.removeprefix("no") not in defined | ABSL_FLAGS:
            raise ValueError(f"--{name}: {script} defines no such flag (it defines {sorted(defined)})")
    if "config" not in defined:
        return
    specs = [value for name, value in given if name == "config"]
    if not specs:
        raise ValueError(f"{script} needs --config=")
    spec = specs[-1]
    path = spec.partition(":")[0]
    if not os.path.isfile(path):
        raise ValueError(f"--config={spec}: no such file {path}")

    from seqgrad import cli_flags

    argv = [script] + [a for a in args if a.startswith("--config=") or a.startswith("--config.")]
    argv, extra = cli_flags.imported_options(argv, spec)  # an import-string model's own options, as the script splits them
    lock = "lock_config=False" not in source
    accept_new = "accept_new_attributes=True" in source
    values = flags.FlagValues()
    config_flags.DEFINE_config_file("config", None, "config", flag_values=values, lock_config=lock,
                                    accept_new_attributes=accept_new, sys_argv=argv)
    values(argv)
    config = values.config
    overrides = config_flags.get_override_values(values["config"])
    name = os.path.basename(script)
    if name == "train.py":
        from seqgrad.train import config as config_lib
        from seqgrad.train import validation

        if extra:
            with config.model.options.unlocked():
                config.model.options.update({k: cli_flags.literal(v) for k, v in extra.items()})
            overrides = {**overrides, **{f"model.options.{k}": cli_flags.literal(v) for k, v in extra.items()}}
        config_lib.check_overrides(config, overrides)
        validation.validate(config)
        _load(TRAIN_RESOURCES)(config)
    elif name in ("sweep.py", "remedies.py"):
        from seqgrad.train import sweep, sweep_plan

        points = sweep_plan.load_sweep(config_flags.get_config_filename(values["config"]))
        sweep.validate_points(config, points, overrides)
    elif name == "analyze.py":
        _load(JOB_ENTRIES)(config)  # the job's validation, then every entry's model built (not compiled)
    elif name == "curse_of_memory.py":
        _load(MEMORY_CURSE)(config)
    elif name == "learned_gradient_flow.py":
        from seqgrad import checks
        from seqgrad.train import validation

        fraction = checks.Range(0.0, 1.0, low_open=True)
        checks.config_numbers(config, {"success_fraction": fraction, "gate_threshold": fraction}, prefix="")
        for arch in config.architectures:
            validation.validate(config.train_configs[arch])
    else:
        raise ValueError(f"{script}: no validation known to this test; add the script's checks here")


def check_command(words: list[str], extras: set[str]) -> str | None:
    """Why the command ``words`` would fail before it computes anything, or None."""
    env = {}
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    if not words:
        return None
    program, args = words[0], words[1:]
    where = " ".join(shlex.quote(w) for w in words)
    if PYTHON.search(program):
        if args[:1] == ["-m"]:
            module = args[1].split(".")[0] if len(args) > 1 else ""
            return None if module and importlib.util.find_spec(module) else f"{where}: no module {args[1:2]}"
        if not args or not args[0].endswith(".py"):
            return None
        script = args[0]
        if not (ROOT / script).is_file():
            return f"{where}: {script} does not exist"
        if not script.startswith("scripts/"):
            return None
        try:
            check_script(script, args[1:])
        except SystemExit as e:
            return f"{where}: exits with {e.code}"
        except Exception as e:  # noqa: BLE001  every failure is reported with its command
            return f"{where}: {type(e).__name__}: {e}"
        return None
    for word in args:
        if re.match(r"^(scripts|benchmarks|experiments|docs|tests)/[\w./-]+\.\w+$", word) and not (ROOT / word).exists():
            return f"{where}: {word} does not exist"
        extra = re.match(r"^\.\[([\w,]+)\]$", word)
        if extra and not set(extra[1].split(",")) <= extras:
            return f"{where}: extras {extra[1]} not all in pyproject.toml ({sorted(extras)})"
    return None


def check_page(page: str, files_dir: str) -> list[str]:
    """Every problem of the commands of ``page`` (a path relative to the repository root)."""
    text = (ROOT / page).read_text()
    for name, code in page_files(text).items():
        pathlib.Path(files_dir, name).write_text(code)
    sys.path.insert(0, files_dir)  # what `PYTHONPATH=.` gives the page's own modules
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    problems = []
    for block in shell_blocks(text):
        for words in commands(block):
            problem = check_command(list(words), extras)
            if problem:
                problems.append(problem)
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_shell_commands_are_valid(page, tmp_path):
    if not shell_blocks(page.read_text()):
        pytest.skip(f"{page.name} has no shell block")
    code = (f"import json, sys; from tests import test_docs_commands as t; "
            f"print(json.dumps(t.check_page({str(page.relative_to(ROOT))!r}, {str(tmp_path)!r})))")
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    problems = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not problems, "\n".join(problems)
