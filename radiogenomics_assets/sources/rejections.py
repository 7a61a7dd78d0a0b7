"""What intake refused: one record per clinical row, expression cell, DICOM file, series or patient.

Every source reader returns its refusals as :class:`Rejection` records instead of dropping them
with a log line. The raw assets store them in one table, ``raw.rejected_records``, written in
the same transaction as the rows that were kept, so the table always describes exactly the
data beside it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import pandas as pd

#: What each record says; ``recorded_by`` is added when it is stored (see the IO manager).
REJECTION_COLUMNS: dict[str, str] = {
    "recorded_by": "the raw asset (and patient partition) whose intake refused it; rerunning "
    "that asset replaces its records",
    "kind": "clinical_row | expression_cell | expression_column | dicom_file | dicom_series "
    "| patient",
    "source_file": "the file, folder or URL as the user configured it (not the store's copy)",
    "location": "where in it: 'line 12', 'column 5', 'line 40, column 7', a series UID, "
    "or an instance's file",
    "patient_id": "the patient concerned, NULL when not known",
    "raw_value": "the offending value as written (shortened), NULL when there is none",
    "reason": "why it was refused",
}

KINDS = (
    "clinical_row",
    "expression_cell",
    "expression_column",
    "dicom_file",
    "dicom_series",
    "patient",
)

_MAX_VALUE_CHARS = 200


@dataclass(frozen=True)
class Rejection:
    """One thing the user gave that intake refused, and why."""

    kind: str
    source_file: str
    location: str
    reason: str
    patient_id: str | None = None
    raw_value: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"rejection kind {self.kind!r} is not one of {KINDS}")
        if self.raw_value is not None and len(self.raw_value) > _MAX_VALUE_CHARS:
            object.__setattr__(self, "raw_value", self.raw_value[:_MAX_VALUE_CHARS] + "…")


def rejections_frame(records: Iterable[Rejection]) -> pd.DataFrame:
    """The records as a frame with every column but ``recorded_by`` (all strings, NULLs kept)."""
    columns = [name for name in REJECTION_COLUMNS if name != "recorded_by"]
    rows = [asdict(record) for record in records]
    return pd.DataFrame(rows, columns=columns).astype("object")


def describe(record: Rejection) -> str:
    """One line for a log or an error message: file, location, patient, reason."""
    patient = f" (patient {record.patient_id})" if record.patient_id else ""
    return f"{record.source_file} {record.location}{patient}: {record.reason}"
