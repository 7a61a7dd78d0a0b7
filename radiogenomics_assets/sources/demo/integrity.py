"""Integrity of a cohort folder: the files list, its digest, completeness and verification."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from radiogenomics_assets.sources.demo.config import GENERATOR_VERSION, DemoConfig
from radiogenomics_assets.store.files import sha256_file

GENERATOR_NAME = "radiogenomics_assets demo cohort"
FILES_FILENAME = "files.csv"
COHORT_FILENAME = "cohort.json"


class DemoCohortError(RuntimeError):
    """A cohort folder is unusable or not ours; the message names the folder or file."""


#: ``cohort.json`` while an update is under way; a crash leaves it, and the next call resumes.
UPDATING_STATE = "updating"

FileRecord = tuple[int, str]


def files_table(root: Path, known: Mapping[str, FileRecord] | None = None) -> bytes:
    """``path,bytes,sha256`` of every file under ``root`` except the two description files.

    ``known`` gives the size and sha256 of files left untouched since an earlier listing; a file
    found there with the same size is not read again.
    """
    known = known or {}
    rows = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if relative in (FILES_FILENAME, COHORT_FILENAME):
            continue
        size = path.stat().st_size
        record = known.get(relative)
        digest = record[1] if record is not None and record[0] == size else sha256_file(path)
        rows.append((relative, size, digest))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "bytes", "sha256"])
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def read_files_table(root: Path) -> dict[str, FileRecord]:
    """The rows of ``root``'s ``files.csv`` (empty when it is missing).

    Raises:
        DemoCohortError: the file is not a files list (named).
    """
    path = root / FILES_FILENAME
    if not path.is_file():
        return {}
    try:
        rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
        return {row["path"]: (int(row["bytes"]), row["sha256"]) for row in rows}
    except (UnicodeDecodeError, KeyError, TypeError, ValueError) as error:
        raise DemoCohortError(f"{path}: unreadable files list ({error!r})") from error


def same_population(document: Mapping[str, Any], config: DemoConfig) -> bool:
    """Whether a ``cohort.json`` describes a cohort of ``config``'s population (any size)."""
    return (
        document.get("generator_version") == GENERATOR_VERSION
        and document.get("population_digest") == config.population_digest()
    )


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

    Checks the description, the files list's digest and every listed file's size (one ``stat``
    per file, cheap enough for every use); sha256 of the files themselves is checked by
    :func:`verify_files`.

    Raises:
        DemoCohortError: ``root`` holds a ``cohort.json`` that is unreadable or not ours.
    """
    document = read_cohort_json(root)
    if document is None:
        return f"{root / COHORT_FILENAME} is missing"
    if document.get("generator_version") != GENERATOR_VERSION:
        return f"generator version {document.get('generator_version')!r} != {GENERATOR_VERSION!r}"
    if not same_population(document, config):
        return "it was generated for another configuration"
    if document.get("state") == UPDATING_STATE:
        return "an earlier update did not finish"
    if document.get("config") != config.to_dict():
        held = document.get("config", {}).get("n_patients")
        return f"it holds {held} patients, not {config.n_patients}"
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
