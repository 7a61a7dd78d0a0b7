"""Type the raw clinical labels: dates, flags, numbers and vocabularies, with problems recorded.

The raw table keeps every cell as the string in the TCIA file. This module turns it into typed
columns and never crashes on a bad cell: a value it cannot read becomes missing and the patient's
``parse_problems`` cell says which column held what. Whether such a patient stays in the cohort
is decided later by the criteria, with a reason.

Missing values
    The file writes "no value" in several ways (``N/A``, ``Not Collected``, ``Not collected``,
    ``Not Assessed``, ``Not Recorded In Database``, ``Unknown``, an empty cell). Any of these,
    compared case- and whitespace-insensitively, is read as missing (NaT / NA / None) without a
    problem.

Dates
    The TCIA file writes month-first US dates, ``M/D/YYYY`` (``8/10/1994``). Also read, because
    they cannot be mistaken for anything else: zero-padded ``MM/DD/YYYY`` (same rule),
    ISO ``YYYY-MM-DD``, ``YYYY/MM/DD`` and the compact DICOM form ``YYYYMMDD``. A slash date is
    always month-first: ``13/5/1994`` is a problem, not silently read as 13 May, because a
    day-first file would otherwise be half-read with swapped fields. Two-digit years, month
    names, impossible dates (``2/30/1994``) and dates after the day they are read (a typo in
    the year: a follow-up in 2091) are problems.

Recurrence
    ``recurrence`` is ``"yes"``, ``"no"``, ``"not_collected"`` (any missing token) or
    ``"unknown"`` (anything else, e.g. ``"maybe"``); ``recurrence_raw`` keeps the cell as written.

``parse_problems`` format
    ``"<column>: <what> '<raw value>'"`` entries joined by ``"; "``, None when every cell was
    read. :func:`problems_for` picks out the entries of one column.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Literal

import pandas as pd

from radiogenomics_assets.ids import validate_patient_id

RecurrenceStatus = Literal["yes", "no", "not_collected", "unknown"]

MISSING_TOKENS = frozenset(
    {"", "n/a", "na", "not collected", "not assessed", "not recorded in database", "unknown"}
)

#: Raw columns the cohort cannot be built without.
REQUIRED_COLUMNS = (
    "patient_id",
    "recurrence",
    "date_of_recurrence",
    "date_of_last_known_alive",
    "ct_date",
    "days_between_ct_and_surgery",
    "adjuvant_treatment",
    "chemotherapy",
    "radiation",
)

DATE_COLUMNS = (
    "ct_date",
    "date_of_recurrence",
    "date_of_last_known_alive",
    "date_of_death",
    "pet_date",
)
INT_COLUMNS = (
    "age_at_histological_diagnosis",
    "quit_smoking_year",
    "time_to_death_days",
    "days_between_ct_and_surgery",
)
FLOAT_COLUMNS = ("weight_lbs", "pack_years")
#: Raw Yes/No column → typed boolean column.
YES_NO_COLUMNS = {
    "adjuvant_treatment": "adjuvant",
    "chemotherapy": "chemotherapy",
    "radiation": "radiation",
    "pleural_invasion_elastic_visceral_or_parietal": "pleural_invasion",
}
#: Closed vocabularies, matched case-insensitively and stored in lower case.
VOCABULARIES = {
    "gender": frozenset({"male", "female"}),
    "survival_status": frozenset({"alive", "dead"}),
    "smoking_status": frozenset({"current", "former", "nonsmoker"}),
}
_CHECKBOX = {"checked": True, "unchecked": False}

_SLASH_US = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_YMD_SLASH = re.compile(r"(\d{4})/(\d{2})/(\d{2})")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_INTEGER = re.compile(r"[+-]?\d+")


class ClinicalTypingError(ValueError):
    """The raw clinical table as a whole cannot be typed (column missing, ids duplicated)."""


def normalise_token(raw: object) -> str | None:
    """Strip, collapse inner whitespace and lower-case ``raw``; None for missing tokens."""
    if raw is None or (isinstance(raw, float) and pd.isna(raw)):
        return None
    text = " ".join(str(raw).split()).casefold()
    return None if text in MISSING_TOKENS else text


def parse_date(raw: object, today: date | None = None) -> tuple[pd.Timestamp | None, str | None]:
    """Read one date cell: ``(timestamp, None)``, ``(None, None)`` if missing, or a problem.

    The problem is a short reason (``"unparsable date"``, ``"impossible date"``, ``"date in
    the future"``: after ``today``, by default the day it is read); the caller adds the column
    and the raw value.
    """
    if normalise_token(raw) is None:
        return None, None
    text = str(raw).strip()
    for pattern, order in (
        (_SLASH_US, "mdy"),
        (_ISO, "ymd"),
        (_YMD_SLASH, "ymd"),
        (_COMPACT, "ymd"),
    ):
        match = pattern.fullmatch(text)
        if match is None:
            continue
        first, second, third = (int(group) for group in match.groups())
        year, month, day = (third, first, second) if order == "mdy" else (first, second, third)
        try:
            parsed = date(year, month, day)
        except ValueError:
            return None, "impossible date"
        if parsed > (today or date.today()):
            return None, "date in the future"
        return pd.Timestamp(parsed), None
    return None, "unparsable date"


def _parse_int(raw: object) -> tuple[int | None, str | None]:
    if normalise_token(raw) is None:
        return None, None
    text = str(raw).strip()
    if not _INTEGER.fullmatch(text):
        return None, "not an integer"
    return int(text), None


def _parse_float(raw: object) -> tuple[float | None, str | None]:
    if normalise_token(raw) is None:
        return None, None
    try:
        value = float(str(raw).strip())
    except ValueError:
        return None, "not a number"
    if value != value or value in (float("inf"), float("-inf")):
        return None, "not a finite number"
    return value, None


def _parse_yes_no(raw: object) -> tuple[bool | None, str | None]:
    token = normalise_token(raw)
    if token is None:
        return None, None
    if token in ("yes", "no"):
        return token == "yes", None
    return None, "expected Yes or No"


def _parse_checkbox(raw: object) -> tuple[bool | None, str | None]:
    token = normalise_token(raw)
    if token is None:
        return None, None
    if token in _CHECKBOX:
        return _CHECKBOX[token], None
    return None, "expected Checked or Unchecked"


def _parse_text(raw: object) -> tuple[str | None, str | None]:
    if normalise_token(raw) is None:
        return None, None
    return " ".join(str(raw).split()), None


def _vocabulary_parser(
    vocabulary: frozenset[str],
) -> Callable[[object], tuple[str | None, str | None]]:
    def parse(raw: object) -> tuple[str | None, str | None]:
        token = normalise_token(raw)
        if token is None:
            return None, None
        if token in vocabulary:
            return token, None
        return None, f"expected one of {sorted(vocabulary)}"

    return parse


def normalise_recurrence(raw: object) -> RecurrenceStatus:
    """The recurrence code of one cell, case- and whitespace-insensitively.

    ``' YES '`` → yes, ``'Not  collected'`` or empty → not_collected, ``'maybe'`` → unknown.
    """
    token = normalise_token(raw)
    if token is None:
        return "not_collected"
    if token in ("yes", "no"):
        return token  # type: ignore[return-value]
    return "unknown"


def problems_for(cell: str | None, column: str) -> list[str]:
    """The entries of one ``parse_problems`` cell that concern ``column``."""
    if not cell:
        return []
    return [entry for entry in cell.split("; ") if entry.startswith(f"{column}: ")]


def _apply(
    values: pd.Series,
    column: str,
    parser: Callable[[object], tuple[object, str | None]],
    problems: list[list[str]],
) -> list[object]:
    parsed = []
    for position, raw in enumerate(values.tolist()):
        value, problem = parser(raw)
        if problem is not None:
            problems[position].append(f"{column}: {problem} {str(raw).strip()!r}")
        parsed.append(value)
    return parsed


def type_clinical_labels(raw: pd.DataFrame) -> pd.DataFrame:
    """Typed clinical table, one row per patient, in the order of ``raw``.

    ``raw`` is ``read_clinical_labels(path).frame``. Dates become ``datetime64[ns]`` (NaT when
    missing or unreadable), integers ``Int64``, numbers ``Float64``, Yes/No and
    Checked/Unchecked columns nullable ``boolean`` (``adjuvant_treatment`` becomes
    ``adjuvant``), closed vocabularies lower-case strings, other columns stripped strings.
    Adds ``recurrence_raw`` and ``parse_problems`` (see the module docstring). Columns this
    module does not know are kept as stripped strings.

    Raises:
        ClinicalTypingError: a required column is missing, or a patient id appears twice.
        InvalidPatientIdError: a patient id is not a safe identifier.
    """
    missing = [column for column in REQUIRED_COLUMNS if column not in raw.columns]
    if missing:
        raise ClinicalTypingError(
            f"clinical labels lack required column(s) {missing}; got {list(raw.columns)}"
        )
    ids = raw["patient_id"].tolist()
    for patient_id in ids:
        validate_patient_id(patient_id, where="clinical labels")
    duplicated = sorted(raw.loc[raw["patient_id"].duplicated(), "patient_id"].unique())
    if duplicated:
        raise ClinicalTypingError(f"clinical labels list patient id(s) {duplicated} more than once")

    problems: list[list[str]] = [[] for _ in ids]
    typed: dict[str, object] = {"patient_id": pd.array(ids, dtype="string")}
    for column in raw.columns:
        if column == "patient_id":
            continue
        values = raw[column]
        if column == "source_row":
            typed[column] = pd.array(values, dtype="Int64")
        elif column == "recurrence":
            typed["recurrence"] = pd.array(
                [normalise_recurrence(v) for v in values], dtype="string"
            )
            typed["recurrence_raw"] = pd.array(values.tolist(), dtype="string")
        elif column in DATE_COLUMNS:
            parsed = _apply(values, column, parse_date, problems)
            typed[column] = pd.to_datetime(pd.Series(parsed, dtype="object")).astype(
                "datetime64[ns]"
            )
        elif column in INT_COLUMNS:
            typed[column] = pd.array(_apply(values, column, _parse_int, problems), dtype="Int64")
        elif column in FLOAT_COLUMNS:
            typed[column] = pd.array(
                _apply(values, column, _parse_float, problems), dtype="Float64"
            )
        elif column in YES_NO_COLUMNS:
            typed[YES_NO_COLUMNS[column]] = pd.array(
                _apply(values, column, _parse_yes_no, problems), dtype="boolean"
            )
        elif column.startswith("tumor_location_"):
            typed[column] = pd.array(
                _apply(values, column, _parse_checkbox, problems), dtype="boolean"
            )
        elif column in VOCABULARIES:
            parser = _vocabulary_parser(VOCABULARIES[column])
            typed[column] = pd.array(_apply(values, column, parser, problems), dtype="string")
        else:
            typed[column] = pd.array(_apply(values, column, _parse_text, problems), dtype="string")
    typed["parse_problems"] = pd.array(
        ["; ".join(entries) if entries else None for entries in problems], dtype="string"
    )
    frame = pd.DataFrame(typed)
    frame.index = pd.RangeIndex(len(frame))
    return frame
