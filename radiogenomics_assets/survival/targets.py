"""The one survival target type: scikit-survival's structured ``(event, time)`` array.

Every model, metric and split in :mod:`radiogenomics_assets.survival` takes targets built here,
so the checks (event is 0/1, days are finite and positive) happen once, at the boundary, and an
error names the rows that broke them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from radiogenomics_assets.ids import validate_patient_id

# scikit-survival is imported inside the functions that use it: the code location imports this
# module, and loading it must not cost seconds.

OUTCOME_COLUMNS: tuple[str, ...] = ("patient_id", "event", "days")
_MAX_NAMED = 10


class SurvivalTargetError(ValueError):
    """Event indicators or follow-up times are missing, malformed or out of range."""


def _labels(index: pd.Index, mask: np.ndarray) -> list[object]:
    return [index[i] for i in np.flatnonzero(mask)[:_MAX_NAMED]]


def make_target(
    event: Sequence[object] | np.ndarray | pd.Series,
    days: Sequence[object] | np.ndarray | pd.Series,
) -> np.ndarray:
    """Build the structured survival target ``Surv.from_arrays(event, days)``.

    Args:
        event: 1 (recurrence observed) or 0 (censored) per patient; booleans are accepted.
        days: follow-up in days per patient, finite and strictly positive.

    Returns:
        A structured array with fields ``event`` (bool) and ``days`` (float).

    Raises:
        SurvivalTargetError: the lengths differ, the input is empty, an event is not 0/1, or a
            time is missing, non-finite or not positive. Offending rows are named by their
            index label (pandas input) or position.
    """
    from sksurv.util import Surv

    event_series = event if isinstance(event, pd.Series) else pd.Series(np.asarray(event))
    days_series = days if isinstance(days, pd.Series) else pd.Series(np.asarray(days))
    if len(event_series) != len(days_series):
        raise SurvivalTargetError(
            f"event has {len(event_series)} rows but days has {len(days_series)}"
        )
    if len(event_series) == 0:
        raise SurvivalTargetError("a survival target needs at least one row, got 0")

    event_values = pd.to_numeric(event_series.astype("object"), errors="coerce").to_numpy(
        dtype=float
    )
    bad_event = ~np.isin(event_values, (0.0, 1.0))
    if bad_event.any():
        raise SurvivalTargetError(
            f"event must be 0 or 1; {int(bad_event.sum())} rows are not, e.g. rows "
            f"{_labels(event_series.index, bad_event)} with values "
            f"{event_series[bad_event].head(_MAX_NAMED).tolist()}"
        )
    days_values = pd.to_numeric(days_series.astype("object"), errors="coerce").to_numpy(dtype=float)
    bad_days = ~np.isfinite(days_values) | (days_values <= 0)
    if bad_days.any():
        raise SurvivalTargetError(
            f"days must be finite and > 0; {int(bad_days.sum())} rows are not, e.g. rows "
            f"{_labels(days_series.index, bad_days)} with values "
            f"{days_series[bad_days].head(_MAX_NAMED).tolist()}"
        )
    return Surv.from_arrays(
        event=event_values.astype(bool), time=days_values, name_event="event", name_time="days"
    )


def validate_outcomes(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Check an outcomes table and return it indexed by ``patient_id``, sorted by id.

    Args:
        outcomes: columns ``patient_id, event (0/1), days (> 0)``; extra columns are kept.

    Raises:
        SurvivalTargetError: a column is missing, a patient id repeats, or an event/time is bad.
        InvalidPatientIdError: a patient id is not a safe identifier.
    """
    missing = [column for column in OUTCOME_COLUMNS if column not in outcomes.columns]
    if missing:
        raise SurvivalTargetError(f"outcomes lack columns {missing}; got {list(outcomes.columns)}")
    for patient_id in outcomes["patient_id"]:
        validate_patient_id(patient_id, where="outcomes")
    duplicated = outcomes["patient_id"].duplicated(keep=False)
    if duplicated.any():
        raise SurvivalTargetError(
            "outcomes repeat patient ids: "
            f"{sorted(set(outcomes.loc[duplicated, 'patient_id']))[:_MAX_NAMED]}"
        )
    frame = outcomes.set_index("patient_id", drop=True).sort_index()
    make_target(frame["event"], frame["days"])
    return frame.assign(event=frame["event"].astype(int))


def target_for(outcomes: pd.DataFrame, patient_ids: Sequence[str] | pd.Index) -> np.ndarray:
    """The survival target of ``patient_ids`` (in that order) from an outcomes table.

    Args:
        outcomes: as returned by :func:`validate_outcomes` (indexed by patient id).
        patient_ids: the patients wanted.

    Raises:
        SurvivalTargetError: a requested patient has no outcome row.
    """
    wanted = pd.Index(patient_ids)
    absent = wanted.difference(outcomes.index)
    if len(absent):
        raise SurvivalTargetError(
            f"{len(absent)} patients have no outcome: {list(absent[:_MAX_NAMED])}"
        )
    rows = outcomes.loc[wanted]
    return make_target(rows["event"], rows["days"])


def target_arrays(target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(event as bool, time as float)`` of a structured target, whatever its field names."""
    event_field, time_field = target.dtype.names
    return target[event_field].astype(bool), target[time_field].astype(float)
