"""Code versions derived from source, so an asset's version changes when the code it runs changes.

A hand-written ``code_version="1"`` is only as honest as the last person who remembered to bump
it. Here the version of a function is a digest of:

* the function itself and every function of its own module it calls (transitively);
* that module's top-level statements (its imports and constants);
* every project module the function reaches (through globals, closures or annotations) and,
  transitively, every project module those import.

Sources are compared as syntax trees without docstrings, so comments, docstrings and formatting
never change a version; any change to a statement does. Third-party code is not hashed: its
versions are pinned in ``pyproject.toml``.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import sys
import textwrap
import types
from collections.abc import Callable, Iterable
from functools import cache

PACKAGE = "radiogenomics_assets"
DIGEST_LENGTH = 12


def _is_ours(module_name: str | None) -> bool:
    return bool(module_name) and (module_name == PACKAGE or module_name.startswith(PACKAGE + "."))


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return tree


def _normalized(source: str) -> str:
    return ast.dump(_strip_docstrings(ast.parse(textwrap.dedent(source))))


@cache
def _module_tree(name: str) -> ast.Module:
    return ast.parse(inspect.getsource(sys.modules[name]))


@cache
def module_digest(name: str) -> str:
    """sha256 of one project module's syntax tree (docstrings removed)."""
    return hashlib.sha256(ast.dump(_strip_docstrings(_module_tree(name))).encode()).hexdigest()


def _resolve(base: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = base.split(".")[: -node.level]
    return ".".join([*parts, node.module] if node.module else parts)


@cache
def imported_modules(name: str) -> frozenset[str]:
    """The project modules ``name`` imports directly (``from pkg import sub`` counts ``sub``)."""
    found: set[str] = set()
    # Relative imports resolve against the package: a package's own name, a module's parent.
    base_name = f"{name}.__init__" if hasattr(sys.modules[name], "__path__") else name
    for node in ast.walk(_module_tree(name)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(base_name, node)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return frozenset(m for m in found if _is_ours(m) and m in sys.modules)


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


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def _top_level(module_name: str) -> str:
    """A module's statements other than function and class bodies (imports, constants)."""
    tree = _module_tree(module_name)
    kept = [
        node
        for node in tree.body
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    ]
    return ast.dump(_strip_docstrings(ast.Module(body=kept, type_ignores=[])))


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
        self.functions[key] = _normalized(inspect.getsource(fn))
        self.modules.add(fn.__module__)
        referenced = [fn.__globals__.get(n) for n in _code_names(fn.__code__)]
        referenced += [cell.cell_contents for cell in fn.__closure__ or ()]
        referenced += list(getattr(fn, "__annotations__", {}).values())
        for value in referenced:
            self.value(value, home=fn.__module__)

    def value(self, value: object, *, home: str, depth: int = 0) -> None:
        if isinstance(value, list | tuple | set | frozenset | dict) and depth < 3:
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
