"""Every ```python block of README.md and of docs/*.md runs, so the examples stay true.

The blocks of one file run in order in one fresh interpreter (a page reads like a
notebook; a fresh process keeps what a page registers out of the other tests),
from the repository root. A block preceded by the line ``<!-- no-run -->`` is
skipped: keep those to fragments that cannot run by themselves.

The README's architecture tables are checked against the registry: every
architecture has a row whose options cell is exactly `options_cell(name)` (every
option, its valid values and its default) and which states its path length.
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


# --------------------------------------------------------------------------- the README's architecture tables


def _value(v) -> str:
    if v is REQUIRED:
        return "required"
    if isinstance(v, float):
        return repr(v) if len(repr(v)) <= 6 else f"{v:.6g}"
    return str(v)


def options_cell(name: str) -> str:
    """The README's options cell of ``name``: every option but ``hidden_size``, with choices and default."""
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
    text = (ROOT / "README.md").read_text()
    zoo = text[text.index("## The model zoo") :]
    rows = table_rows(zoo[: zoo.index("\n## ")])
    missing = [name for name in models.available() if name not in rows]
    assert not missing, f"architectures without a README row: {missing}"
    for name in models.available():
        cells = rows[name]
        assert options_cell(name) in cells, f"{name}: the README's options cell should read\n{options_cell(name)}"
        assert models.info(name).path_length in cells, f"{name}: path length {models.info(name).path_length!r}"


def test_layout_names_every_module():
    """Every module of ``seqgrad/`` appears on its package's lines of the README's layout block."""
    text = (ROOT / "README.md").read_text()
    layout = text[text.index("## Layout") :]
    first = layout.index("```")
    block = layout[first : layout.index("```", first + 3)]
    packages = [ROOT / "seqgrad"] + sorted(p for p in (ROOT / "seqgrad").iterdir() if (p / "__init__.py").exists())
    for package in packages:
        prefix = "seqgrad/ " if package.name == "seqgrad" else f"seqgrad/{package.name}/"
        parts = block.split("\n" + prefix, 1)
        assert len(parts) == 2, f"{prefix.strip()} is missing from the layout"
        lines = re.split(r"\n\S", parts[1], maxsplit=1)[0]  # the package's line and its indented continuations
        for module in sorted(package.glob("*.py")):
            if module.stem != "__init__":
                assert re.search(rf"\b{module.stem}\b", lines), f"{module.relative_to(ROOT)} is missing from the layout"
