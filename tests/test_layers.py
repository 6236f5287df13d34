"""seqgrad's packages are layers that only point down: checks/jsonio/configkeys < models, tasks <
modelspec, gradflow < report < train < jobs < cli. `gradflow` (the pure diagnostics) imports neither
`train` nor `report`, `report` imports no job, and no two packages import each other."""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
RANK = {"checks": 0, "jsonio": 0, "configkeys": 0, "models": 1, "tasks": 1, "modelspec": 2, "gradflow": 2,
        "report": 3, "train": 4, "jobs": 5, "cli": 6, "cli_flags": 6}


def _imports() -> list[tuple[str, str]]:
    """``(importing module, imported seqgrad name)`` for every import, lazy ones included."""
    out = []
    for path in (ROOT / "seqgrad").rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("seqgrad"):
                out += [(module, f"{node.module}.{a.name}") for a in node.names]
            elif isinstance(node, ast.Import):
                out += [(module, a.name) for a in node.names if a.name.startswith("seqgrad")]
    return out


def _layer(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_every_package_has_a_layer():
    names = {p.stem if p.is_file() else p.name for p in (ROOT / "seqgrad").iterdir()
             if (p.suffix == ".py" and p.stem != "__init__") or (p.is_dir() and (p / "__init__.py").exists())}
    assert names == set(RANK), f"unranked: {sorted(names - set(RANK))}; gone: {sorted(set(RANK) - names)}"


def _upward(imports) -> list[tuple[str, str]]:
    return [(a, b) for a, b in imports if _layer(a) != _layer(b) and RANK[_layer(b)] > RANK[_layer(a)]]


def _cycles(imports) -> list[tuple[str, str]]:
    edges = {(_layer(a), _layer(b)) for a, b in imports if _layer(a) != _layer(b)}
    return sorted((a, b) for a, b in edges if (b, a) in edges)


def test_imports_only_point_down_and_packages_form_no_cycle():
    imports = _imports()
    assert not _upward(imports), f"imports that point up a layer: {_upward(imports)}"
    assert not _cycles(imports), f"packages that import each other: {_cycles(imports)}"


def test_the_rules_catch_what_the_layout_had_before():
    """The imports the old layout had (a diagnostic importing the training loop, a model the diagnostics)."""
    old = [("seqgrad.gradflow.learned", "seqgrad.train.loop"), ("seqgrad.models.rnn", "seqgrad.gradflow.meanfield"),
           ("seqgrad.gradflow.decay", "seqgrad.models.base")]
    assert _upward(old) == old[:2]
    assert _cycles(old) == [("gradflow", "models"), ("models", "gradflow")]
