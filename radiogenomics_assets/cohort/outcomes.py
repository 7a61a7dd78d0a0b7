"""The survival target: a recurrence event flag and a time in days, per patient.

``event`` is 1 when ``Recurrence`` is yes and 0 when it is no. ``days`` runs from an origin to
``Date of Recurrence`` for an event, else to ``Date of Last Known Alive`` (the time under
observation without recurrence).

Origin
    ``"ct"`` (default): the CT date. The paper's text speaks of time "from surgery", but the
    repository that accompanies it (svaishnavi411/multimodal-recurrence, README of its
    curated splits) defines ``num_of_days`` as days between the CT image and the recurrence or
    the last follow-up, and its splits are what its C-indices were computed on. Following the
    code keeps our numbers comparable with the paper's.
    ``"surgery"``: the surgery date, reconstructed as CT date + ``Days between CT and
    surgery`` (the clinical file has no surgery date of its own). This is the paper's wording.

A patient whose outcome cannot be computed is not dropped and does not crash the run: ``event``
and/or ``days`` are NA and ``outcome_problem`` says why (status not collected, a date missing or
unreadable, a recurrence date on a non-recurrence, a time that is not positive). A time is kept
in ``days`` even when it is not positive, so the problem can be inspected; only rows with
``outcome_problem`` NULL are usable.
"""

from __future__ import annotations

from typing import Literal, get_args

import pandas as pd

from radiogenomics_assets.cohort.clinical import problems_for

Origin = Literal["ct", "surgery"]

OUTCOME_COLUMNS = (
    "patient_id",
    "event",
    "days",
    "origin",
    "origin_date",
    "end_date",
    "end_point",
    "outcome_problem",
)

_NEEDED = (
    "patient_id",
    "recurrence",
    "recurrence_raw",
    "ct_date",
    "days_between_ct_and_surgery",
    "date_of_recurrence",
    "date_of_last_known_alive",
    "parse_problems",
)


class OutcomeError(ValueError):
    """The outcome cannot be computed for the table as a whole (bad argument, missing column)."""


def _date_problem(parse_problems: object, column: str) -> str:
    cell = None if pd.isna(parse_problems) else str(parse_problems)
    details = problems_for(cell, column)
    return "; ".join(details) if details else f"{column} is missing"


def _one_patient(row: pd.Series, origin: Origin) -> dict[str, object]:
    problems: list[str] = []
    status = row["recurrence"]
    event: int | None = None
    end_date = pd.NaT
    end_point: str | None = None
    if status in ("yes", "no"):
        event = 1 if status == "yes" else 0
        end_column = "date_of_recurrence" if event else "date_of_last_known_alive"
        end_point = "recurrence" if event else "last_known_alive"
        end_date = row[end_column]
        if pd.isna(end_date):
            problems.append(_date_problem(row["parse_problems"], end_column))
        if not event and (
            pd.notna(row["date_of_recurrence"])
            or problems_for(_cell(row["parse_problems"]), "date_of_recurrence")
        ):
            problems.append("recurrence is 'no' but a date_of_recurrence is given")
    else:
        problems.append(f"recurrence is {status} (raw {_raw(row['recurrence_raw'])})")

    origin_date = row["ct_date"]
    if pd.isna(origin_date):
        problems.append(_date_problem(row["parse_problems"], "ct_date"))
    elif origin == "surgery":
        offset = row["days_between_ct_and_surgery"]
        if pd.isna(offset):
            problems.append(_date_problem(row["parse_problems"], "days_between_ct_and_surgery"))
            origin_date = pd.NaT
        else:
            origin_date = origin_date + pd.Timedelta(days=int(offset))

    days: int | None = None
    if pd.notna(origin_date) and pd.notna(end_date):
        days = int((end_date - origin_date).days)
        if days <= 0:
            problems.append(
                f"time from {origin} ({origin_date.date()}) to {end_point} "
                f"({end_date.date()}) is {days} days, not positive"
            )
    return {
        "patient_id": row["patient_id"],
        "event": event,
        "days": days,
        "origin": origin,
        "origin_date": origin_date,
        "end_date": end_date,
        "end_point": end_point,
        "outcome_problem": "; ".join(problems) if problems else None,
    }


def _cell(value: object) -> str | None:
    return None if pd.isna(value) else str(value)


def _raw(value: object) -> str:
    return "empty" if pd.isna(value) else repr(str(value))


def compute_outcomes(typed: pd.DataFrame, *, origin: Origin = "ct") -> pd.DataFrame:
    """One outcome row per patient of ``typed`` (from ``type_clinical_labels``), same order.

    Columns: ``patient_id``, ``event`` (Int8: 1 recurrence, 0 none, NA unknown), ``days``
    (Int64), ``origin``, ``origin_date``, ``end_date``, ``end_point`` (``"recurrence"`` or
    ``"last_known_alive"``) and ``outcome_problem`` (None when the outcome is usable).

    Raises:
        OutcomeError: ``origin`` is not ``"ct"`` or ``"surgery"``, or ``typed`` lacks a column
            the outcome needs.
    """
    if origin not in get_args(Origin):
        raise OutcomeError(f"origin must be one of {get_args(Origin)}, got {origin!r}")
    missing = [column for column in _NEEDED if column not in typed.columns]
    if missing:
        raise OutcomeError(
            f"typed clinical table lacks column(s) {missing} needed for outcomes "
            "(was it produced by type_clinical_labels?)"
        )
    rows = [_one_patient(row, origin) for _, row in typed.iterrows()]
    frame = pd.DataFrame(rows, columns=list(OUTCOME_COLUMNS))
    frame["patient_id"] = frame["patient_id"].astype("string")
    frame["event"] = pd.array(frame["event"].tolist(), dtype="Int8")
    frame["days"] = pd.array(frame["days"].tolist(), dtype="Int64")
    frame["origin"] = frame["origin"].astype("string")
    for column in ("origin_date", "end_date"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[ns]")
    frame["end_point"] = frame["end_point"].astype("string")
    frame["outcome_problem"] = frame["outcome_problem"].astype("string")
    return frame


def usable_outcomes(outcomes: pd.DataFrame) -> pd.DataFrame:
    """``patient_id, event, days`` of the patients whose outcome has no problem."""
    return outcomes[outcomes["outcome_problem"].isna()][["patient_id", "event", "days"]]
