"""Imports flow one way: entry points (``cli``) → Dagster layer (``defs``, ``definitions``) →
library; only Dagster's public API is used. Every import statement counts, also one inside a
function or a ``TYPE_CHECKING`` block."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "radiogenomics_assets"
ROOT = "radiogenomics_assets"
DAGSTER_LAYER = (f"{ROOT}.defs", f"{ROOT}.definitions")
ENTRY_POINTS = (f"{ROOT}.cli",)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


MODULES = {_module_name(path): _imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(f"{p}.") for p in prefixes)


def test_the_three_homes_hold_modules() -> None:
    # Otherwise the tests below could pass on an empty or renamed layer.
    assert any(_within(m, DAGSTER_LAYER) for m in MODULES)
    assert any(_within(m, ENTRY_POINTS) for m in MODULES)
    assert f"{ROOT}.survival.fitting" in MODULES


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_flow_one_way(module: str) -> None:
    imported = MODULES[module]
    if _within(module, ENTRY_POINTS):
        return
    assert not {i for i in imported if _within(i, ENTRY_POINTS)}, f"{module} imports an entry point"
    if _within(module, DAGSTER_LAYER):
        return
    wrong = {i for i in imported if _within(i, DAGSTER_LAYER) or _within(i, ("dagster",))}
    assert not wrong, f"library module {module} imports {sorted(wrong)}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_dagsters_public_api(module: str) -> None:
    private = {i for i in MODULES[module] if i.startswith("dagster._")}
    assert not private, f"{module} imports Dagster's internals {sorted(private)}"
