"""The documents name only what exists: `make` targets, environment variables and file paths.

A newcomer copies commands from README.md, docs/*.md and benchmarks/RESULTS.md; a renamed target,
a variable nothing reads any more or a moved file leaves them a command that fails. What counts as
a mention, so that a failure can be read against a rule:

- **make target**: ``make <word>`` inside inline code or a fenced code block (prose uses "make"
  as a verb). Only the word after ``make`` is a target; ``FILE=…`` and the like are variables.
- **environment variable**: ``RADIOGENOMICS_<NAME>`` anywhere in the text, and ``DAGSTER_HOME``.
  It must occur in the package, the Makefile, benchmarks/ or .ci/ (the code that reads it).
- **file path**: a word of inline code or of a fenced code block (the part after ``=`` in
  ``KEY=value``) that holds a ``/`` and either starts with a top-level folder of this repository
  or ends in a source-file extension; it is read from the repository root. The target of a
  markdown link is read from the document's folder, and its ``#anchor`` must be a heading there.
  Exempt: URLs, ``data/`` (made at run time), absolute, ``~``, ``$VAR`` and ``../`` paths
  (outside the repository) and placeholders (``<model>``, ``…``, ``*``).

Inline code is matched line by line, so a code span in these documents stays on one line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [
    REPO / "README.md",
    *sorted((REPO / "docs").glob("*.md")),
    REPO / "benchmarks" / "RESULTS.md",
]
# Where an environment variable is read: the product, how it is run, and the benchmarks.
VARIABLE_SOURCES = [
    REPO / "radiogenomics_assets",
    REPO / "Makefile",
    REPO / "benchmarks",
    REPO / ".ci",
]

TOP_LEVEL_FOLDERS = (
    "radiogenomics_assets",
    "radiogenomics_assets_tests",
    "benchmarks",
    "docs",
    "sql",
    "studies",
    ".ci",
)
FILE_EXTENSIONS = (".py", ".sql", ".yaml", ".yml", ".md", ".sh", ".toml", ".json")
EXEMPT_PREFIXES = ("data/", "/", "~", "$", "../")
PLACEHOLDER_MARKS = ("<", ">", "…", "*", "{")

MAKE_TARGET = re.compile(r"\bmake\s+([A-Za-z][\w-]*)")
VARIABLE = re.compile(r"\b(RADIOGENOMICS_[A-Z0-9_]*[A-Z0-9]|DAGSTER_HOME)\b")
INLINE_CODE = re.compile(r"`([^`]+)`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
# A rule line of the Makefile, `target [target ...]:`, not an assignment `NAME := value`.
MAKE_RULE = re.compile(r"^([A-Za-z][\w.-]*(?:[ \t]+[A-Za-z][\w.-]*)*)[ \t]*:(?!=)")


def code_lines(text: str) -> Iterator[tuple[int, str, bool]]:
    """Each line with its number and whether it lies inside a fenced code block."""
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        yield number, line, fenced


def code_of(line: str, fenced: bool) -> list[str]:
    """The parts of a line that are code: all of a fenced line, else its inline code spans."""
    return [line] if fenced else INLINE_CODE.findall(line)


def is_repo_path(word: str) -> bool:
    """Whether a word of code cites a file of this repository (the rule in the module docstring)."""
    if "/" not in word or "://" in word:
        return False
    if word.startswith(EXEMPT_PREFIXES) or any(mark in word for mark in PLACEHOLDER_MARKS):
        return False
    return word.split("/", 1)[0] in TOP_LEVEL_FOLDERS or word.endswith(FILE_EXTENSIONS)


def path_words(code: str) -> Iterator[str]:
    for word in code.split():
        # `FILE=sql/x.sql` cites the value; `tests/x.py::test_y` the file; quotes and a
        # sentence's punctuation around a word are not part of it.
        word = word.rsplit("=", 1)[-1].split("::", 1)[0].strip("\"'`,;:()[]").rstrip(".")
        if is_repo_path(word):
            yield word


def heading_anchors(document: Path) -> set[str]:
    """GitHub's anchors of the document's headings: lower case, punctuation dropped, ' ' to '-'."""
    anchors = set()
    for _, line, fenced in code_lines(document.read_text(encoding="utf-8")):
        if not fenced and line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def make_targets() -> set[str]:
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    return {
        name
        for match in map(MAKE_RULE.match, text.splitlines())
        if match
        for name in match.group(1).split()
    }


def variables_read() -> set[str]:
    found: set[str] = set()
    for source in VARIABLE_SOURCES:
        files = (
            [source]
            if source.is_file()
            else [p for p in source.rglob("*") if p.is_file() and p.suffix != ".pyc"]
        )
        for path in files:
            found.update(VARIABLE.findall(path.read_text(encoding="utf-8", errors="ignore")))
    return found


def mentions(document: Path) -> Iterator[tuple[str, int, str]]:
    """(kind, line, name) of every target, variable, path and link the document names."""
    for number, line, fenced in code_lines(document.read_text(encoding="utf-8")):
        for code in code_of(line, fenced):
            for target in MAKE_TARGET.findall(code):
                yield "make", number, target
            for word in path_words(code):
                yield "path", number, word
        for variable in VARIABLE.findall(line):
            yield "variable", number, variable
        if not fenced:
            for link in LINK.findall(line):
                if not re.match(r"[a-z]+:", link):
                    yield "link", number, link


def missing_link(document: Path, link: str) -> str | None:
    """Why the link does not resolve, or None."""
    target, _, anchor = link.partition("#")
    path = (document.parent / target).resolve() if target else document
    if not path.exists() or REPO not in path.parents:
        return "no such file"
    if anchor and path.suffix == ".md" and anchor not in heading_anchors(path):
        return f"no heading #{anchor} in {path.relative_to(REPO)}"
    return None


def failures(kind: str) -> list[str]:
    targets, variables = make_targets(), variables_read()
    found = []
    for document in DOCUMENTS:
        name = document.relative_to(REPO)
        for mention, line, what in mentions(document):
            if mention != kind:
                continue
            if kind == "make" and what not in targets:
                found.append(f"{name}:{line}: `make {what}`: no such target in the Makefile")
            elif kind == "variable" and what not in variables:
                found.append(
                    f"{name}:{line}: {what}: not read in the package, Makefile, benchmarks or .ci"
                )
            elif kind == "path" and not (REPO / what).exists():
                found.append(f"{name}:{line}: {what}: no such file in the repository")
            elif kind == "link" and (why := missing_link(document, what)):
                found.append(f"{name}:{line}: link {what}: {why}")
    return found


def test_the_documents_exist() -> None:
    missing = [str(d.relative_to(REPO)) for d in DOCUMENTS if not d.is_file()]
    assert not missing, f"documents missing: {missing}"
    assert len(DOCUMENTS) > 2, "docs/ holds no document"


def test_the_rules_see_what_the_readme_names() -> None:
    # Guards the checks below against passing because a rule matches nothing.
    found = {(kind, what) for kind, _, what in mentions(REPO / "README.md")}
    assert {("make", "demo"), ("make", "test")} <= found
    assert ("variable", "RADIOGENOMICS_STUDY") in found
    assert ("path", "sql/select_table1.sql") in found
    assert ("link", "docs/methods.md") in found


@pytest.mark.parametrize("kind", ["make", "variable", "path", "link"])
def test_every_named_thing_exists(kind: str) -> None:
    found = failures(kind)
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("sql/select_table1.sql", True),
        ("radiogenomics_assets/survival/", True),
        ("survival/modules.py", True),  # shorthand must be spelled out to be checked
        ("studies/….yaml", False),
        ("data/files/reports/study_report.html", False),
        ("models/<model>/<protocol>/<fold>.model", False),
        ("cohort/outcomes", False),  # an asset key
        ("https://example.org/a.py", False),
        ("../shared/data", False),
    ],
)
def test_what_counts_as_a_path(word: str, expected: bool) -> None:
    assert is_repo_path(word) is expected
