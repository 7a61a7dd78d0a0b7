"""Parse the TCIA clinical labels CSV into the raw table, values kept as written.

The raw layer renames columns to snake_case (``Case ID`` becomes ``patient_id``) and keeps every
value as the string in the file, so typing, vocabularies and exclusion rules live in one place
downstream (``radiogenomics_assets.cohort``).

What is refused, and how much:

- The whole file, when it cannot be read as the clinical labels at all: empty, no id column, a
  required column missing, two headers with the same snake_case name.
- One row (a :class:`~radiogenomics_assets.sources.rejections.Rejection` of kind
  ``clinical_row``, location ``line N``), when only that row is unusable: the wrong number of
  cells, an invalid or empty patient id.
- A patient id on several rows: which row is right cannot be known, so every one of them is
  refused and the rest of the file loads. Byte-identical repeats (the same cells, a copy-paste
  or a doubled export) are the exception: they say the same thing, so the first is kept and
  each copy is refused as a duplicate of it, which the user still sees.

Every message and ``Rejection.source_file`` names the file as the user gave it
(``display_name``: the configured path or URL), never the store's copy.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from radiogenomics_assets.ids import InvalidPatientIdError, validate_patient_id
from radiogenomics_assets.sources.rejections import Rejection

ID_HEADERS = ("Case ID", "Patient ID")

#: Headers the pipeline reads downstream; a file without one of them is unusable.
REQUIRED_HEADERS = (
    "Recurrence",
    "Date of Recurrence",
    "Date of Last Known Alive",
    "CT Date",
    "Days between CT and surgery",
    "Adjuvant Treatment",
    "Chemotherapy",
    "Radiation",
)


class ClinicalCsvError(ValueError):
    """The clinical CSV cannot be read as a whole (missing column, no header, duplicate ids)."""


@dataclass(frozen=True)
class ClinicalLabels:
    """The parsed file: usable rows, and the rows refused with the reason."""

    frame: pd.DataFrame
    rejected: tuple[Rejection, ...]


def snake_case(header: str) -> str:
    """``'Tumor Location (choice=RUL)'`` → ``'tumor_location_rul'``, ``'%GG'`` → ``'pct_gg'``."""
    if header.strip() in ID_HEADERS:
        return "patient_id"
    text = header.strip().replace("%", "pct ").replace("choice=", "")
    text = re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_").lower()
    if not text:
        raise ClinicalCsvError(f"clinical CSV header {header!r} has no usable name")
    return f"c_{text}" if text[0].isdigit() else text


def _check_headers(headers: list[str], name: str) -> list[str]:
    stripped = [h.strip() for h in headers]
    if not any(h in stripped for h in ID_HEADERS):
        raise ClinicalCsvError(f"{name}: no patient id column (expected one of {ID_HEADERS})")
    missing = [h for h in REQUIRED_HEADERS if h not in stripped]
    if missing:
        raise ClinicalCsvError(f"{name}: required column(s) missing: {', '.join(missing)}")
    names = [snake_case(h) for h in headers]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ClinicalCsvError(f"{name}: several headers map to the same column {duplicated}")
    return names


def _refuse_repeated_ids(
    lines: dict[int, list[str]], ids: dict[int, str], name: str
) -> tuple[set[int], list[Rejection]]:
    """Lines to drop because their patient id is on another line too, with a record each."""
    by_id: dict[str, list[int]] = {}
    for line_number, patient_id in ids.items():
        by_id.setdefault(patient_id, []).append(line_number)
    dropped: set[int] = set()
    refused: list[Rejection] = []
    for patient_id, numbers in by_id.items():
        if len(numbers) < 2:
            continue
        first = numbers[0]
        identical = all(lines[n] == lines[first] for n in numbers)
        for number in numbers if not identical else numbers[1:]:
            others = ", ".join(str(n) for n in numbers if n != number)
            reason = (
                f"an identical copy of line {first} (patient id {patient_id!r}), which is kept"
                if identical
                else f"patient id {patient_id!r} is also on line(s) {others} with different "
                "values; none of them is used"
            )
            dropped.add(number)
            refused.append(
                Rejection(
                    kind="clinical_row",
                    source_file=name,
                    location=f"line {number}",
                    reason=reason,
                    patient_id=patient_id,
                    raw_value=patient_id,
                )
            )
    return dropped, refused


def _utf8_text(data: bytes, name: str) -> str:
    """``data`` decoded as UTF-8 (a byte-order mark dropped); the error names the line, not a
    guessed encoding: a silently misread value would reach the cohort rules."""
    data = data.removeprefix(codecs.BOM_UTF8)  # so the error's offset is the file's
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ClinicalCsvError(
            f"{name} line {line}: byte 0x{data[error.start]:02x} is not UTF-8 text; the file "
            "was probably saved in a legacy encoding (Latin-1, Windows-1252). Save it as UTF-8 "
            "(in Excel: CSV UTF-8) and run again."
        ) from None


def read_clinical_labels(path: Path, display_name: str | None = None) -> ClinicalLabels:
    """Read the clinical labels CSV at ``path``.

    Returns every usable row as strings (empty cells as None) under snake_case names, plus
    ``source_row`` (the 1-based line number in the file), and the refused rows as
    :class:`Rejection` records (see the module docstring for what is refused).
    ``display_name`` (default: ``path``) is how messages and records name the file.

    Raises:
        ClinicalCsvError: the file is not UTF-8 text (the line and byte named), is empty, has no
            id column, lacks a required column (named), or has two headers that map to the
            same name.
    """
    name = display_name or str(path)
    reader = csv.reader(io.StringIO(_utf8_text(Path(path).read_bytes(), name), newline=""))
    try:
        headers = next(reader)
    except StopIteration:
        raise ClinicalCsvError(f"{name}: the clinical CSV is empty") from None
    rows = list(reader)
    names = _check_headers(headers, name)
    id_index = names.index("patient_id")

    refused: list[Rejection] = []
    usable: dict[int, list[str]] = {}
    for line_number, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        raw_id = row[id_index] if len(row) > id_index else None
        if len(row) != len(headers):
            refused.append(
                Rejection(
                    kind="clinical_row",
                    source_file=name,
                    location=f"line {line_number}",
                    reason=f"{len(row)} cells, the header has {len(headers)}",
                    raw_value=raw_id,
                )
            )
            continue
        try:
            validate_patient_id(raw_id or None)
        except InvalidPatientIdError as error:
            refused.append(
                Rejection(
                    kind="clinical_row",
                    source_file=name,
                    location=f"line {line_number}",
                    reason=str(error),
                    raw_value=raw_id,
                )
            )
            continue
        usable[line_number] = row

    dropped, repeated = _refuse_repeated_ids(
        usable, {n: row[id_index] for n, row in usable.items()}, name
    )
    refused.extend(repeated)
    records = [
        {
            **{key: (cell if cell != "" else None) for key, cell in zip(names, row, strict=True)},
            "source_row": line_number,
        }
        for line_number, row in usable.items()
        if line_number not in dropped
    ]
    frame = pd.DataFrame.from_records(records, columns=[*names, "source_row"])
    frame = frame[["patient_id", *[n for n in names if n != "patient_id"], "source_row"]]
    refused.sort(key=lambda record: int(record.location.split()[-1]))
    return ClinicalLabels(frame=frame, rejected=tuple(refused))
