"""The survival library's modules depend on each other one way: no import cycle.

Every import counts, including those inside functions and under ``TYPE_CHECKING``: a cycle
hidden there still ties two modules together.
"""

from __future__ import annotations

import ast
from pathlib import Path

import radiogenomics_assets.survival as survival

PACKAGE = survival.__name__
ROOT = Path(survival.__file__).parent


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE):
            found.add(node.module.removeprefix(f"{PACKAGE}."))
        elif isinstance(node, ast.Import):
            found.update(
                a.name.removeprefix(f"{PACKAGE}.") for a in node.names if a.name.startswith(PACKAGE)
            )
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as ``[a, b, ..., a]``, or None."""
    done: set[str] = set()

    def visit(path: list[str]) -> list[str] | None:
        for other in sorted(graph.get(path[-1], ())):
            if other in path:
                return [*path[path.index(other) :], other]
            if other not in done:
                found = visit([*path, other])
                if found:
                    return found
        done.add(path[-1])
        return None

    for module in sorted(graph):
        found = None if module in done else visit([module])
        if found:
            return found
    return None


def test_the_survival_modules_import_each_other_without_a_cycle() -> None:
    graph = {p.stem: _imports(p) - {p.stem} for p in ROOT.glob("*.py") if p.stem != "__init__"}
    assert graph["fusion"] >= {"coxnet", "fitted"}  # the walk reads imports at all
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_metrics_know_nothing_of_the_models_they_score() -> None:
    """Models (coxnet, fusion, nets) use the metrics; the metrics never reach back to them."""
    graph = {p.stem: _imports(p) for p in ROOT.glob("*.py")}
    assert graph["metrics"] <= {"splits", "targets"}


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"metrics": {"fitted"}, "fitted": {"fusion"}, "fusion": {"metrics"}, "x": set()}
    assert _cycle(graph) == ["fitted", "fusion", "metrics", "fitted"]
    assert _cycle({"fusion": {"metrics"}, "metrics": set()}) is None
