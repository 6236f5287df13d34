"""Every ```python block of README.md and of docs/*.md runs, so the examples stay true.

The blocks of one file run in order in one fresh interpreter (a page reads like a
notebook; a fresh process keeps what a page registers out of the other tests),
from the repository root. A block preceded by the line ``<!-- no-run -->`` is
skipped: keep those to fragments that cannot run by themselves.

The architecture tables of docs/models.md are checked against the registry: every
architecture has a row whose options cell is exactly `options_cell(name)` (every
option, its valid values and its default) and which states its path length. The
README's layout block names every module and package of ``seqgrad/``. The shell
commands of the pages are checked in `tests/test_docs_commands.py`.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

from seqgrad import models
from seqgrad.models.registry import REQUIRED

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(?P<marker><!-- no-run -->\s*\n)?```python\n(?P<code>.*?)```", re.S)


def python_blocks(text: str) -> list[str]:
    """The runnable ```python blocks of a Markdown text, in order."""
    return [m["code"] for m in BLOCK.finditer(text) if not m["marker"]]


def test_block_extraction_skips_marked_blocks():
    text = "```python\na = 1\n```\n<!-- no-run -->\n```python\nfragment(\n```\n```bash\nls\n```\n"
    assert python_blocks(text) == ["a = 1\n"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_blocks_run(page):
    blocks = python_blocks(page.read_text())
    if not blocks:
        pytest.skip(f"{page.name} has no python block")
    script = "\n".join(f"# --- block {i}\n{code}" for i, code in enumerate(blocks))
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, f"{page.name}: a python block failed\n{proc.stderr[-4000:]}"


# --------------------------------------------------------------------------- the architecture tables of docs/models.md


def _value(v) -> str:
    if v is REQUIRED:
        return "required"
    if isinstance(v, float):
        return repr(v) if len(repr(v)) <= 6 else f"{v:.6g}"
    return str(v)


def options_cell(name: str) -> str:
    """The options cell of ``name`` in docs/models.md: every option but ``hidden_size``, with choices and default."""
    arch = models.info(name)
    parts = []
    for key, default in arch.options.items():
        if key == "hidden_size":
            continue
        choices = arch.choices.get(key)
        among = f" ∈ {{{', '.join(map(str, choices))}}}" if choices and not isinstance(default, bool) else ""
        parts.append(f"`{key}`{among} ({_value(default)})")
    return ", ".join(parts)


def table_rows(text: str) -> dict[str, list[str]]:
    """``{name: cells}`` of every Markdown table row whose first cell is a backticked name."""
    rows = {}
    for line in text.splitlines():
        match = re.match(r"\|\s*`([\w:.]+)`\s*\|(.*)\|\s*$", line)
        if match:
            rows[match[1]] = [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", match[2])]
    return rows


def test_architecture_tables_list_every_architecture_with_its_options_and_path_length():
    rows = table_rows((ROOT / "docs" / "models.md").read_text())
    missing = [name for name in models.available() if name not in rows]
    assert not missing, f"architectures without a row in docs/models.md: {missing}"
    for name in models.available():
        cells = rows[name]
        assert options_cell(name) in cells, f"{name}: the options cell of docs/models.md should read\n{options_cell(name)}"
        assert models.info(name).path_length in cells, f"{name}: path length {models.info(name).path_length!r}"


# --------------------------------------------------------------------------- the README's layout block


def layout_block(text: str) -> str:
    """The first code block after the README's ``## Layout`` heading."""
    layout = text[text.index("## Layout") :]
    first = layout.index("```")
    return layout[first : layout.index("```", first + 3)]


def package_lines(block: str, package: str) -> str | None:
    """The block's line that starts with ``package/`` (e.g. ``seqgrad/jobs/``) and its indented
    continuation lines; None when no line starts with it."""
    match = re.search(rf"^{re.escape(package)}/[ \t]+(.*(?:\n[ \t].*)*)", block, re.M)
    return match[1] if match else None


def missing_from_layout(root: pathlib.Path, block: str) -> list[str]:
    """Every package of ``root/seqgrad`` without a line of its own in ``block``, and every module
    (a ``.py`` file but ``__init__.py``) not named on its package's lines."""
    missing = []
    for init in sorted((root / "seqgrad").rglob("__init__.py")):
        package = init.parent.relative_to(root).as_posix()
        lines = package_lines(block, package)
        if lines is None:
            missing.append(f"{package}/")
            continue
        for module in sorted(init.parent.glob("*.py")):
            if module.stem != "__init__" and not re.search(rf"(?<![\w/]){module.stem}\b", lines):
                missing.append(module.relative_to(root).as_posix())
    return missing


def test_layout_block_reading():
    block = ("```\nseqgrad/          a, b (the b\n                  module), c\nseqgrad/jobs/     d\n"
             "seqgrad/jobs/gf/  e\ntests/            x\n")
    assert package_lines(block, "seqgrad") == "a, b (the b\n                  module), c"
    assert package_lines(block, "seqgrad/jobs") == "d"
    assert package_lines(block, "seqgrad/jobs/gf") == "e"
    assert package_lines(block, "seqgrad/train") is None


def test_layout_names_every_module_and_package():
    """Every package of ``seqgrad/`` has its line in the README's layout block, naming each of its modules."""
    missing = missing_from_layout(ROOT, layout_block((ROOT / "README.md").read_text()))
    assert not missing, f"missing from the README's layout block: {missing}"
