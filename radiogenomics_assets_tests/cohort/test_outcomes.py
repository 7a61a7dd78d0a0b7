from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from radiogenomics_assets.cohort.clinical import type_clinical_labels
from radiogenomics_assets.cohort.outcomes import OUTCOME_COLUMNS, OutcomeError, compute_outcomes
from radiogenomics_assets_tests.cohort.builders import raw_clinical


def _outcomes(*rows: dict[str, str | None], origin: str = "ct") -> pd.DataFrame:
    return compute_outcomes(type_clinical_labels(raw_clinical(*rows)), origin=origin)  # type: ignore[arg-type]


def test_event_and_days_from_the_ct_date() -> None:
    frame = _outcomes(
        {"recurrence": "yes", "ct_date": "1/1/1994", "date_of_recurrence": "4/11/1994"},
        {
            "recurrence": "no",
            "ct_date": "2/27/1994",
            "date_of_recurrence": "N/A",
            "date_of_last_known_alive": "3/1/1996",
        },
    )
    assert list(frame.columns) == list(OUTCOME_COLUMNS)
    assert frame["event"].dtype == "Int8"
    assert frame["days"].dtype == "Int64"
    assert frame["event"].tolist() == [1, 0]
    assert frame["days"].tolist() == [
        (date(1994, 4, 11) - date(1994, 1, 1)).days,
        (date(1996, 3, 1) - date(1994, 2, 27)).days,
    ]
    assert frame["end_point"].tolist() == ["recurrence", "last_known_alive"]
    assert frame["origin"].tolist() == ["ct", "ct"]
    assert frame["outcome_problem"].isna().all()


def test_surgery_origin_adds_the_days_between_ct_and_surgery() -> None:
    row = {
        "recurrence": "yes",
        "ct_date": "12/20/1993",
        "days_between_ct_and_surgery": "15",
        "date_of_recurrence": "6/30/1994",
    }
    ct = _outcomes(row)
    surgery = _outcomes(row, origin="surgery")
    assert ct.loc[0, "days"] == (date(1994, 6, 30) - date(1993, 12, 20)).days
    assert surgery.loc[0, "days"] == (date(1994, 6, 30) - date(1994, 1, 4)).days
    assert surgery.loc[0, "origin_date"] == pd.Timestamp(1994, 1, 4)
    assert surgery.loc[0, "origin"] == "surgery"


def test_surgery_origin_needs_the_offset() -> None:
    frame = _outcomes({"days_between_ct_and_surgery": "Not Collected"}, origin="surgery")
    assert pd.isna(frame.loc[0, "days"])
    assert frame.loc[0, "outcome_problem"] == "days_between_ct_and_surgery is missing"
    assert _outcomes({"days_between_ct_and_surgery": "Not Collected"}).loc[0, "days"] == 100


def test_recurrence_not_collected_or_unrecognised_has_no_event() -> None:
    frame = _outcomes({"recurrence": "Not collected"}, {"recurrence": "perhaps"})
    assert frame["event"].isna().all()
    assert frame["outcome_problem"].tolist() == [
        "recurrence is not_collected (raw 'Not collected')",
        "recurrence is unknown (raw 'perhaps')",
    ]


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ({"ct_date": ""}, "ct_date is missing"),
        ({"ct_date": "1/1/94"}, "ct_date: unparsable date '1/1/94'"),
        ({"date_of_recurrence": "N/A"}, "date_of_recurrence is missing"),
        (
            {"recurrence": "no", "date_of_recurrence": "", "date_of_last_known_alive": "15/1/1996"},
            "date_of_last_known_alive: impossible date '15/1/1996'",
        ),
        (
            {"recurrence": "no", "date_of_recurrence": "", "date_of_last_known_alive": "1/5/2096"},
            "date_of_last_known_alive: date in the future '1/5/2096'",
        ),
        (
            {"recurrence": "no", "date_of_recurrence": "2/2/1995"},
            "recurrence is 'no' but a date_of_recurrence is given",
        ),
    ],
)
def test_missing_or_unreadable_dates_are_problems_not_crashes(
    row: dict[str, str], problem: str
) -> None:
    frame = _outcomes(row)
    assert frame.loc[0, "outcome_problem"] == problem


def test_non_positive_times_are_problems_and_keep_their_value() -> None:
    frame = _outcomes(
        {"ct_date": "5/5/1995", "date_of_recurrence": "5/5/1995"},
        {"ct_date": "5/5/1995", "date_of_recurrence": "5/1/1995"},
    )
    assert frame["days"].tolist() == [0, -4]
    assert frame.loc[0, "outcome_problem"] == (
        "time from ct (1995-05-05) to recurrence (1995-05-05) is 0 days, not positive"
    )
    assert "is -4 days, not positive" in frame.loc[1, "outcome_problem"]


def test_rejects_unknown_origin_and_untyped_tables() -> None:
    typed = type_clinical_labels(raw_clinical({}))
    with pytest.raises(OutcomeError, match=r"origin must be one of .* got 'pet'"):
        compute_outcomes(typed, origin="pet")  # type: ignore[arg-type]
    with pytest.raises(OutcomeError, match=r"lacks column\(s\) \['recurrence_raw'"):
        compute_outcomes(typed.drop(columns=["recurrence_raw"]))
