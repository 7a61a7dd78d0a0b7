"""Integrity of a cohort folder: the files list, its digest, completeness and verification."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

from radiogenomics_assets.sources.demo.config import GENERATOR_VERSION, DemoConfig
from radiogenomics_assets.store.files import sha256_file

GENERATOR_NAME = "radiogenomics_assets demo cohort"
FILES_FILENAME = "files.csv"
COHORT_FILENAME = "cohort.json"


class DemoCohortError(RuntimeError):
    """A cohort folder is unusable or not ours; the message names the folder or file."""


def files_table(root: Path) -> bytes:
    """``path,bytes,sha256`` of every file under ``root`` except the two description files."""
    rows = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if relative in (FILES_FILENAME, COHORT_FILENAME):
            continue
        rows.append((relative, path.stat().st_size, sha256_file(path)))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "bytes", "sha256"])
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def read_cohort_json(root: Path) -> dict[str, Any] | None:
    path = root / COHORT_FILENAME
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DemoCohortError(f"{path}: unreadable cohort description ({error})") from error
    if not isinstance(document, dict) or document.get("generator") != GENERATOR_NAME:
        raise DemoCohortError(f"{path} was not written by the demo cohort generator")
    return document


def incomplete_reason(root: Path, config: DemoConfig) -> str | None:
    """Why ``root`` does not hold a complete cohort for ``config`` (None if it does).

    Checks the description, the files list's digest and every listed file's size; sha256 of
    the files themselves is checked by :func:`verify_demo_cohort`.

    Raises:
        DemoCohortError: ``root`` holds a ``cohort.json`` that is unreadable or not ours.
    """
    document = read_cohort_json(root)
    if document is None:
        return f"{root / COHORT_FILENAME} is missing"
    if document.get("generator_version") != GENERATOR_VERSION:
        return f"generator version {document.get('generator_version')!r} != {GENERATOR_VERSION!r}"
    if document.get("config") != config.to_dict():
        return "it was generated for another configuration"
    files_path = root / FILES_FILENAME
    if not files_path.is_file():
        return f"{files_path} is missing"
    data = files_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != document.get("files_digest"):
        return f"{files_path} does not match the digest in {COHORT_FILENAME}"
    for row in csv.DictReader(io.StringIO(data.decode("utf-8"))):
        path = root / row["path"]
        if not path.is_file() or path.stat().st_size != int(row["bytes"]):
            return f"{path} is missing or has the wrong size"
    return None


def verify_files(root: Path, config: DemoConfig) -> None:
    """Re-hash every file under ``root`` against ``files.csv``.

    Raises:
        DemoCohortError: the cohort is incomplete, or a file's sha256 differs (file named).
    """
    reason = incomplete_reason(root, config)
    if reason is not None:
        raise DemoCohortError(f"demo cohort {root} is incomplete: {reason}")
    files_csv = root / FILES_FILENAME
    for row in csv.DictReader(io.StringIO(files_csv.read_text(encoding="utf-8"))):
        path = root / row["path"]
        if sha256_file(path) != row["sha256"]:
            raise DemoCohortError(f"{path}: sha256 differs from {files_csv}")
