"""Every folder of Python modules under ``seqgrad/`` is a regular package (it has an ``__init__.py``), so
``setuptools.find_packages`` ships it in a wheel: a folder without one works from a checkout (an
implicit namespace package) but is left out of a non-editable install."""

from __future__ import annotations

import pathlib

from setuptools import find_packages

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_module_folder_is_a_package_the_wheel_ships():
    folders = {p.parent for p in (ROOT / "seqgrad").rglob("*.py") if "__pycache__" not in p.parts}
    missing = sorted(str(f.relative_to(ROOT)) for f in folders if not (f / "__init__.py").exists())
    assert not missing, f"folders of modules without __init__.py: {missing}"
    shipped = set(find_packages(str(ROOT), include=["seqgrad*"]))
    expected = {".".join(f.relative_to(ROOT).parts) for f in folders}
    assert expected <= shipped, f"not found by find_packages: {sorted(expected - shipped)}"
