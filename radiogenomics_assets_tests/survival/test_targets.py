from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radiogenomics_assets.ids import InvalidPatientIdError
from radiogenomics_assets.survival.targets import (
    SurvivalTargetError,
    make_target,
    target_arrays,
    target_for,
    validate_outcomes,
)


def test_make_target_builds_the_structured_array() -> None:
    target = make_target([1, 0, True], [30, 45.5, 7])
    event, time = target_arrays(target)
    assert event.tolist() == [True, False, True]
    assert time.tolist() == [30.0, 45.5, 7.0]
    assert target.dtype.names == ("event", "days")


def test_make_target_names_rows_with_bad_events() -> None:
    event = pd.Series([1, 2, 0, -1], index=["A1", "A2", "A3", "A4"])
    with pytest.raises(SurvivalTargetError, match=r"event must be 0 or 1; 2 rows.*\['A2', 'A4'\]"):
        make_target(event, [10, 20, 30, 40])


@pytest.mark.parametrize("bad", [0, -3, np.nan, np.inf])
def test_make_target_names_rows_with_bad_days(bad: float) -> None:
    days = pd.Series([10.0, bad, 5.0], index=["A1", "A2", "A3"])
    with pytest.raises(SurvivalTargetError, match=r"days must be finite and > 0; 1 rows.*\['A2'\]"):
        make_target([1, 0, 1], days)


def test_make_target_rejects_length_mismatch_and_empty_input() -> None:
    with pytest.raises(SurvivalTargetError, match="event has 2 rows but days has 3"):
        make_target([1, 0], [1, 2, 3])
    with pytest.raises(SurvivalTargetError, match="at least one row"):
        make_target([], [])


def test_validate_outcomes_indexes_sorts_and_checks() -> None:
    raw = pd.DataFrame({"patient_id": ["B", "A"], "event": [True, False], "days": [5, 9]})
    frame = validate_outcomes(raw)
    assert frame.index.tolist() == ["A", "B"]
    assert frame["event"].tolist() == [0, 1]
    with pytest.raises(SurvivalTargetError, match=r"lack columns \['days'\]"):
        validate_outcomes(raw.drop(columns="days"))
    with pytest.raises(SurvivalTargetError, match=r"repeat patient ids: \['A'\]"):
        validate_outcomes(pd.concat([raw, raw.tail(1)]))
    with pytest.raises(InvalidPatientIdError, match="in outcomes"):
        validate_outcomes(raw.assign(patient_id=["A", "../etc"]))


def test_target_for_orders_rows_and_names_missing_patients() -> None:
    outcomes = validate_outcomes(
        pd.DataFrame({"patient_id": ["A", "B", "C"], "event": [1, 0, 1], "days": [3, 4, 5]})
    )
    _, time = target_arrays(target_for(outcomes, ["C", "A"]))
    assert time.tolist() == [5.0, 3.0]
    with pytest.raises(SurvivalTargetError, match=r"1 patients have no outcome: \['Z'\]"):
        target_for(outcomes, ["A", "Z"])
