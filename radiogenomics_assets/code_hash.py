"""Code versions derived from source, so an asset's version changes when the code it runs changes.

A hand-written ``code_version="1"`` is only as honest as the last person who remembered to bump
it. Here the version of a function is a digest of:

* the function itself and every function of its own module it calls (transitively);
* that module's top-level statements (its imports and constants);
* every project module the function reaches (through globals, closures, annotations or import
  statements in its body) and, transitively, every project module those import, at top level
  or inside a function. Modules are found from the package's files, not ``sys.modules``: a
  module imported only when a function runs counts before it has run.

Sources are compared as syntax trees without docstrings, so comments, docstrings and formatting
never change a version; any change to a statement does. Each file is parsed once per process.
Third-party code is not hashed: its versions are pinned in ``pyproject.toml``.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import sys
import textwrap
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PACKAGE = "radiogenomics_assets"
DIGEST_LENGTH = 12


def _is_ours(module_name: str | None) -> bool:
    return bool(module_name) and (module_name == PACKAGE or module_name.startswith(PACKAGE + "."))


def _strip_docstring(node: ast.AST) -> None:
    body = getattr(node, "body", None)
    if (
        isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        node.body = body[1:] or [ast.Pass()]


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        _strip_docstring(node)
    return tree


def _normalized(source: str) -> str:
    return ast.dump(_strip_docstrings(ast.parse(textwrap.dedent(source))))


_ROOT = Path(__file__).resolve().parent


@cache
def _module_file(name: str) -> Path | None:
    """The source file of module ``name``: an imported module's, else a project file (or None).

    A project module that a function imports only when it runs is not in ``sys.modules`` at
    load time, so whether a dotted project name is a module is answered from the package files.
    """
    module = sys.modules.get(name)
    if module is not None and getattr(module, "__file__", None):
        return Path(module.__file__)
    if not _is_ours(name):
        return None
    base = _ROOT.joinpath(*name.split(".")[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@dataclass(frozen=True)
class _Parsed:
    """One module's source, parsed and indexed in a single walk of its tree."""

    tree: ast.Module  # docstrings removed
    imports: frozenset[str]  # dotted names of every import statement, function bodies included
    functions: dict[tuple[str, int], ast.AST]  # by name and first line, decorators included


@cache
def _parsed(name: str) -> _Parsed:
    path = _module_file(name)
    if path is None:
        raise ValueError(f"no source file for module {name!r}")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imports: set[str] = set()
    functions: dict[tuple[str, int], ast.AST] = {}
    # Relative imports resolve against the package: a package's own name, a module's parent.
    base_name = f"{name}.__init__" if path.name == "__init__.py" else name
    for node in ast.walk(tree):
        _strip_docstring(node)
        if isinstance(node, ast.Import | ast.ImportFrom):
            imports |= _import_names(node, base_name)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            functions[(node.name, first)] = node
    return _Parsed(tree, frozenset(imports), functions)


def _module_tree(name: str) -> ast.Module:
    """The module's syntax tree without docstrings, parsed once per process."""
    return _parsed(name).tree


@cache
def module_digest(name: str) -> str:
    """sha256 of one project module's syntax tree (docstrings removed)."""
    return hashlib.sha256(ast.dump(_module_tree(name)).encode()).hexdigest()


def _resolve(base: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = base.split(".")[: -node.level]
    return ".".join([*parts, node.module] if node.module else parts)


def _import_names(node: ast.Import | ast.ImportFrom, base_name: str) -> set[str]:
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    base = _resolve(base_name, node)
    return {base, *(f"{base}.{alias.name}" for alias in node.names)}


def _project_modules(names: Iterable[str], importer: str) -> frozenset[str]:
    """The project modules among ``names``, leaving out the importer's own packages.

    A package imports its modules, so a module importing its package back (inside a function,
    to read the package's registry of assets) closes a cycle; it runs none of the package's
    other modules, and following it would make every asset depend on every module.
    """
    return frozenset(
        m
        for m in names
        if _is_ours(m) and not importer.startswith(f"{m}.") and _module_file(m) is not None
    )


@cache
def imported_modules(name: str) -> frozenset[str]:
    """The project modules ``name`` imports (``from pkg import sub`` counts ``sub``).

    Imports inside function bodies count: a module imported only when a function runs (to keep
    heavy libraries out of the code location's load) is still code that function runs.
    """
    return _project_modules(_parsed(name).imports, name)


def module_closure(names: Iterable[str], exclude: frozenset[str] = frozenset()) -> set[str]:
    """``names`` and every project module they import, transitively, minus ``exclude``."""
    closure: set[str] = set()
    pending = [n for n in names if n not in exclude]
    while pending:
        name = pending.pop()
        if name in closure:
            continue
        closure.add(name)
        pending.extend(m for m in imported_modules(name) if m not in exclude)
    return closure


def _function_tree(fn: types.FunctionType) -> ast.Module:
    """``fn``'s syntax tree without docstrings, from its module's cached tree where possible."""
    if _module_file(fn.__module__) is not None:
        node = _parsed(fn.__module__).functions.get((fn.__name__, fn.__code__.co_firstlineno))
        if node is not None:
            return ast.Module(body=[node], type_ignores=[])
    return _strip_docstrings(ast.parse(textwrap.dedent(inspect.getsource(fn))))  # type: ignore[return-value]


def _function_imports(tree: ast.Module, module_name: str) -> frozenset[str]:
    """The project modules that import statements inside a function's body name."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names |= _import_names(node, module_name)
    return _project_modules(names, module_name)


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


@cache
def _top_level(module_name: str) -> str:
    """A module's statements other than function and class bodies (imports, constants)."""
    tree = _module_tree(module_name)
    kept = [
        node
        for node in tree.body
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    ]
    return ast.dump(ast.Module(body=kept, type_ignores=[]))


class _Walk:
    """Collects the functions of the entry module and the project modules a function reaches."""

    def __init__(self, exclude: frozenset[str]) -> None:
        self.exclude = exclude
        self.functions: dict[str, str] = {}
        self.modules: set[str] = set()

    def function(self, fn: Callable[..., object]) -> None:
        fn = inspect.unwrap(fn)
        key = f"{fn.__module__}.{fn.__qualname__}"
        if key in self.functions:
            return
        tree = _function_tree(fn)
        self.functions[key] = ast.dump(tree)
        self.modules.add(fn.__module__)
        self.modules |= _function_imports(tree, fn.__module__) - self.exclude
        referenced = [fn.__globals__.get(n) for n in _code_names(fn.__code__)]
        referenced += [cell.cell_contents for cell in fn.__closure__ or ()]
        referenced += list(getattr(fn, "__annotations__", {}).values())
        for value in referenced:
            self.value(value, home=fn.__module__)

    def value(self, value: object, *, home: str, depth: int = 0) -> None:
        # Plain containers only: a record such as Dagster's AssetKey subclasses tuple but refuses
        # iteration, and holds no code of ours.
        if type(value) in (list, tuple, set, frozenset, dict) and depth < 3:
            items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            for item in items:
                self.value(item, home=home, depth=depth + 1)
            return
        if isinstance(value, types.ModuleType):
            if _is_ours(value.__name__) and value.__name__ not in self.exclude:
                self.modules.add(value.__name__)
            return
        module = getattr(value, "__module__", None)
        if not _is_ours(module) or module in self.exclude:
            return
        if module == home and isinstance(value, types.FunctionType):
            self.function(value)  # a helper beside the asset: follow it, not the whole module
        elif module != home:
            self.modules.add(module)


def code_digest(
    fn: Callable[..., object], *, exclude_modules: Iterable[str] = (), length: int = DIGEST_LENGTH
) -> str:
    """The code version of ``fn``: a digest of every project source it can run (see module doc).

    ``exclude_modules`` leaves modules out whose relevant content the caller versions otherwise
    (e.g. the model registry, whose spec of one model is versioned by ``spec_version``).
    """
    exclude = frozenset(exclude_modules)
    walk = _Walk(exclude)
    walk.function(fn)
    entry = inspect.unwrap(fn).__module__
    libraries = module_closure(walk.modules - {entry}, exclude)
    digest = hashlib.sha256()
    digest.update(_top_level(entry).encode())
    for key in sorted(walk.functions):
        digest.update(f"{key}\0{walk.functions[key]}\0".encode())
    for name in sorted(libraries - {entry}):
        digest.update(f"{name}\0{module_digest(name)}\0".encode())
    return digest.hexdigest()[:length]
