from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from radiogenomics_assets.cohort.clinical import (
    ClinicalTypingError,
    normalise_recurrence,
    parse_date,
    problems_for,
    type_clinical_labels,
)
from radiogenomics_assets.ids import InvalidPatientIdError
from radiogenomics_assets.sources.clinical_csv import REQUIRED_HEADERS, read_clinical_labels
from radiogenomics_assets_tests.cohort.builders import raw_clinical


@pytest.mark.parametrize(
    "raw",
    ["8/10/1994", "08/10/1994", " 8/10/1994 ", "1994-08-10", "1994/08/10", "19940810"],
)
def test_every_accepted_date_format_reads_the_same_day(raw: str) -> None:
    assert parse_date(raw) == (pd.Timestamp(1994, 8, 10), None)


def test_slash_dates_are_month_first() -> None:
    assert parse_date("3/8/1991")[0] == pd.Timestamp(1991, 3, 8)
    assert parse_date("12/1/1990")[0] == pd.Timestamp(1990, 12, 1)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("13/5/1994", "impossible date"),  # day-first: never swapped silently
        ("2/30/1994", "impossible date"),
        ("8/10/94", "unparsable date"),
        ("10-Aug-1994", "unparsable date"),
        ("1994.08.10", "unparsable date"),
        ("yesterday", "unparsable date"),
    ],
)
def test_ambiguous_or_broken_dates_are_problems_not_guesses(raw: str, problem: str) -> None:
    assert parse_date(raw) == (None, problem)


def test_a_date_after_the_day_it_is_read_is_a_problem() -> None:
    today = date(2026, 12, 5)
    assert parse_date("12/5/2026", today=today) == (pd.Timestamp(2026, 12, 5), None)
    assert parse_date("12/6/2026", today=today) == (None, "date in the future")
    assert parse_date("2091-03-01") == (None, "date in the future")  # today by default


@pytest.mark.parametrize(
    "raw",
    [None, "", "   ", "N/A", "Not Collected", "not  collected", "Not Assessed", "Unknown",
     "Not Recorded In Database"],
)  # fmt: skip
def test_missing_tokens_are_missing_without_a_problem(raw: str | None) -> None:
    assert parse_date(raw) == (None, None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("yes", "yes"),
        (" YES ", "yes"),
        ("Yes", "yes"),
        ("no", "no"),
        ("NO\t", "no"),
        ("Not collected", "not_collected"),
        ("not   COLLECTED", "not_collected"),
        (None, "not_collected"),
        ("", "not_collected"),
        ("maybe", "unknown"),
        ("1", "unknown"),
    ],
)
def test_recurrence_is_normalised(raw: str | None, expected: str) -> None:
    assert normalise_recurrence(raw) == expected


def test_types_of_the_core_columns() -> None:
    typed = type_clinical_labels(
        raw_clinical(
            {},
            {"adjuvant_treatment": "Yes", "radiation": "Not Collected", "recurrence": " No "},
        )
    )
    assert typed["ct_date"].dtype == "datetime64[ns]"
    assert typed["days_between_ct_and_surgery"].dtype == "Int64"
    assert typed["adjuvant"].dtype == "boolean"
    assert typed["adjuvant"].tolist() == [False, True]
    assert typed["radiation"].isna().tolist() == [False, True]
    assert typed["recurrence"].tolist() == ["yes", "no"]
    assert typed["recurrence_raw"].tolist() == ["yes", " No "]
    assert typed["gender"].tolist() == ["male", "male"]
    assert typed["age_at_histological_diagnosis"].tolist() == [70, 70]
    assert typed["date_of_death"].isna().all()
    assert "adjuvant_treatment" not in typed.columns
    assert typed["parse_problems"].isna().all()


def test_unreadable_cells_become_missing_with_a_problem_naming_column_and_value() -> None:
    typed = type_clinical_labels(
        raw_clinical(
            {"ct_date": "31/12/1994", "days_between_ct_and_surgery": "ten"},
            {"chemotherapy": "sometimes", "gender": "X"},
        )
    )
    assert pd.isna(typed.loc[0, "ct_date"])
    assert pd.isna(typed.loc[0, "days_between_ct_and_surgery"])
    first = typed.loc[0, "parse_problems"]
    assert problems_for(first, "ct_date") == ["ct_date: impossible date '31/12/1994'"]
    assert problems_for(first, "days_between_ct_and_surgery") == [
        "days_between_ct_and_surgery: not an integer 'ten'"
    ]
    second = typed.loc[1, "parse_problems"]
    assert "chemotherapy: expected Yes or No 'sometimes'" in second
    assert "gender: expected one of ['female', 'male'] 'X'" in second
    assert pd.isna(typed.loc[1, "chemotherapy"])


def test_missing_required_column_is_named() -> None:
    raw = raw_clinical({}).drop(columns=["radiation"])
    with pytest.raises(ClinicalTypingError, match=r"required column\(s\) \['radiation'\]"):
        type_clinical_labels(raw)


def test_duplicate_and_unsafe_ids_are_refused() -> None:
    with pytest.raises(ClinicalTypingError, match=r"\['P-001'\] more than once"):
        type_clinical_labels(raw_clinical({"patient_id": "P-001"}, {"patient_id": "P-001"}))
    with pytest.raises(InvalidPatientIdError, match="P/001"):
        type_clinical_labels(raw_clinical({"patient_id": "P/001"}))


def test_unknown_columns_pass_through_as_stripped_text() -> None:
    typed = type_clinical_labels(raw_clinical({"new_field": "  some   value ", "pct_gg": "0%"}))
    assert typed.loc[0, "new_field"] == "some value"
    assert typed.loc[0, "pct_gg"] == "0%"


def test_reads_a_real_format_csv_with_bad_cells_end_to_end(tmp_path: Path) -> None:
    base = dict.fromkeys(REQUIRED_HEADERS, "No")
    base.update({"Date of Last Known Alive": "1/1/1996", "Days between CT and surgery": "7"})
    rows = [
        # the real format
        {"Case ID": "R01-900", "Recurrence": "yes", "Date of Recurrence": "3/1/1995",
         "CT Date": "1/1/1995"},
        # ISO dates, "Recurrence" in odd case and spacing, an empty date cell
        {"Case ID": "R01-901", "Recurrence": " NO ", "Date of Recurrence": "",
         "Date of Last Known Alive": "1996-01-01", "CT Date": "1995-01-01"},
        # a day-first date and an unparsable one
        {"Case ID": "R01-902", "Recurrence": "Yes", "Date of Recurrence": "25/12/1995",
         "CT Date": "Jan 1 1995", "Adjuvant Treatment": "Yes"},
    ]  # fmt: skip
    headers = ["Case ID", *REQUIRED_HEADERS]
    lines = [",".join(headers)]
    lines += [",".join({**base, **row}[header] for header in headers) for row in rows]
    path = tmp_path / "labels.csv"
    path.write_text("\n".join(lines) + "\n")
    typed = type_clinical_labels(read_clinical_labels(path).frame)

    assert typed["patient_id"].tolist() == ["R01-900", "R01-901", "R01-902"]
    assert typed["recurrence"].tolist() == ["yes", "no", "yes"]
    assert typed["date_of_last_known_alive"].tolist() == [pd.Timestamp(1996, 1, 1)] * 3
    assert pd.isna(typed.loc[1, "date_of_recurrence"])
    assert pd.isna(typed.loc[1, "parse_problems"])
    assert typed.loc[2, "parse_problems"] == (
        "date_of_recurrence: impossible date '25/12/1995'; ct_date: unparsable date 'Jan 1 1995'"
    )
    assert typed["source_row"].tolist() == [2, 3, 4]
