"""Parse the TCIA clinical labels CSV into the raw table, values kept as written.

The raw layer renames columns to snake_case (``Case ID`` becomes ``patient_id``) and keeps every
value as the string in the file, so typing, vocabularies and exclusion rules live in one place
downstream (``radiogenomics_assets.cohort``). Rows whose id is unusable are quarantined with a
reason rather than failing the whole cohort.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from radiogenomics_assets.ids import InvalidPatientIdError, validate_patient_id

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
    """The parsed file: usable rows, and rows set aside with the reason."""

    frame: pd.DataFrame
    rejected: pd.DataFrame


def snake_case(header: str) -> str:
    """``'Tumor Location (choice=RUL)'`` → ``'tumor_location_rul'``, ``'%GG'`` → ``'pct_gg'``."""
    if header.strip() in ID_HEADERS:
        return "patient_id"
    text = header.strip().replace("%", "pct ").replace("choice=", "")
    text = re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_").lower()
    if not text:
        raise ClinicalCsvError(f"clinical CSV header {header!r} has no usable name")
    return f"c_{text}" if text[0].isdigit() else text


def read_clinical_labels(path: Path) -> ClinicalLabels:
    """Read the clinical labels CSV at ``path``.

    Returns every row as strings (empty cells as None) under snake_case names, plus
    ``source_row`` (the 1-based line number in the file). Rows with an invalid or empty patient id
    go to ``rejected`` (columns ``source_row``, ``raw_patient_id``, ``reason``).

    Raises:
        ClinicalCsvError: no id column, a required column missing (named), a header that maps to
            the same name twice, or the same valid patient id on two rows (both lines named).
    """
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        try:
            headers = next(reader)
        except StopIteration:
            raise ClinicalCsvError(f"{path}: the clinical CSV is empty") from None
        rows = list(reader)

    stripped = [h.strip() for h in headers]
    id_header = next((h for h in ID_HEADERS if h in stripped), None)
    if id_header is None:
        raise ClinicalCsvError(f"{path}: no patient id column (expected one of {ID_HEADERS})")
    missing = [h for h in REQUIRED_HEADERS if h not in stripped]
    if missing:
        raise ClinicalCsvError(f"{path}: required column(s) missing: {', '.join(missing)}")
    names = [snake_case(h) for h in headers]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ClinicalCsvError(f"{path}: several headers map to the same column {duplicated}")

    records, rejected, first_line = [], [], {}
    for line_number, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(headers):
            rejected.append(
                {
                    "source_row": line_number,
                    "raw_patient_id": row[0] if row else None,
                    "reason": (
                        f"line {line_number} has {len(row)} cells, the header has {len(headers)}"
                    ),
                }
            )
            continue
        record = {
            name: (cell if cell != "" else None) for name, cell in zip(names, row, strict=True)
        }
        raw_id = record["patient_id"]
        try:
            validate_patient_id(raw_id, where=f"{path.name} line {line_number}")
        except InvalidPatientIdError as error:
            rejected.append(
                {"source_row": line_number, "raw_patient_id": raw_id, "reason": str(error)}
            )
            continue
        if raw_id in first_line:
            raise ClinicalCsvError(
                f"{path}: patient id {raw_id!r} appears on lines {first_line[raw_id]} "
                f"and {line_number}"
            )
        first_line[raw_id] = line_number
        record["source_row"] = line_number
        records.append(record)

    frame = pd.DataFrame.from_records(records, columns=[*names, "source_row"])
    frame = frame[["patient_id", *[n for n in names if n != "patient_id"], "source_row"]]
    rejected_frame = pd.DataFrame(rejected, columns=["source_row", "raw_patient_id", "reason"])
    return ClinicalLabels(frame=frame, rejected=rejected_frame)
