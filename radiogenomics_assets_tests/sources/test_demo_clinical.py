"""The clinical CSV: the real file's columns, vocabularies and date logic."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
import pytest

from radiogenomics_assets.sources.clinical_csv import read_clinical_labels
from radiogenomics_assets.sources.demo import DemoCohort, DemoConfig
from radiogenomics_assets.sources.demo.clinical import write_clinical_csv
from radiogenomics_assets.sources.demo.plan import plan_cohort

REAL_CSV = (
    "nsclc-radiogenomics-clinical/NSCLCR01Radiogenomic_DATA_LABELS_2018-05-22_1500-shifted.csv"
)
DATE = re.compile(r"^([1-9]|1[0-2])/([1-9]|[12][0-9]|3[01])/(19|20)[0-9]{2}$")
DATE_COLUMNS = (
    "Date of Recurrence",
    "Date of Last Known Alive",
    "Date of Death",
    "CT Date",
    "PET Date",
)
NUMBER_COLUMNS = (
    "Age at Histological Diagnosis",
    "Weight (lbs)",
    "Pack Years",
    "Quit Smoking Year",
    "Time to Death (days)",
    "Days between CT and surgery",
)


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def real(shared_data: Path) -> pd.DataFrame:
    return _read(shared_data / REAL_CSV)


@pytest.fixture(scope="module")
def larger(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """A 300-patient CSV (no imaging needed) so that rare vocabulary values occur."""
    path = tmp_path_factory.mktemp("clinical") / "labels.csv"
    write_clinical_csv(path, plan_cohort(DemoConfig(n_patients=300, seed=23)))
    return _read(path)


def _date(text: str) -> dt.date:
    return dt.datetime.strptime(text, "%m/%d/%Y").date()


def test_columns_match_the_real_file(small_cohort: DemoCohort, real: pd.DataFrame) -> None:
    demo = _read(small_cohort.clinical_csv)
    assert list(demo.columns) == list(real.columns)
    assert len(demo.columns) == 40
    assert "Histology " in demo.columns


def test_file_bytes_look_like_the_real_file(small_cohort: DemoCohort) -> None:
    data = small_cohort.clinical_csv.read_bytes()
    assert data.startswith(b"Case ID,")
    assert b"\r\n" not in data
    assert b'"Pleural invasion (elastic, visceral, or parietal)"' in data.splitlines()[0]


def test_categorical_values_come_from_the_real_vocabulary(
    larger: pd.DataFrame, real: pd.DataFrame
) -> None:
    free = {"Case ID", *DATE_COLUMNS, *NUMBER_COLUMNS}
    categorical = [c for c in real.columns if c not in free]
    assert len(categorical) == 40 - len(free)
    for column in categorical:
        unseen = set(larger[column]) - set(real[column])
        assert not unseen, f"{column!r}: {sorted(unseen)} never occur in the real file"


def test_free_columns_are_numbers_dates_or_real_missing_tokens(
    larger: pd.DataFrame, real: pd.DataFrame
) -> None:
    for column in (*DATE_COLUMNS, *NUMBER_COLUMNS):
        real_tokens = {v for v in real[column] if not re.fullmatch(r"[0-9./]+", v)}
        for value in larger[column]:
            if value in real_tokens:
                continue
            if column in DATE_COLUMNS:
                assert DATE.fullmatch(value), f"{column!r}: {value!r}"
            else:
                assert re.fullmatch(r"[0-9]+(\.[0-9]+)?", value), f"{column!r}: {value!r}"


def test_ids_and_counts(larger: pd.DataFrame) -> None:
    assert larger["Case ID"].str.fullmatch(r"(R01|AMC)-[0-9]{3}").all()
    assert larger["Case ID"].is_unique
    assert (larger["Recurrence"] == "Not collected").sum() == 1
    r01 = larger["Case ID"].str.startswith("R01").mean()
    assert 0.75 <= r01 <= 0.8


def test_dates_are_consistent(larger: pd.DataFrame) -> None:
    for _, row in larger.iterrows():
        ct = _date(row["CT Date"])
        assert 1989 <= ct.year <= 1996
        surgery = ct + dt.timedelta(days=int(row["Days between CT and surgery"]))
        last_alive = _date(row["Date of Last Known Alive"])
        assert (row["Date of Recurrence"] != "N/A") == (row["Recurrence"] == "yes")
        if row["Recurrence"] == "yes":
            recurrence = _date(row["Date of Recurrence"])
            assert surgery < recurrence <= last_alive
        assert (row["Survival Status"] == "Dead") == (row["Date of Death"] != "N/A")
        if row["Survival Status"] == "Dead":
            death = _date(row["Date of Death"])
            assert death == last_alive
            assert int(row["Time to Death (days)"]) == (death - surgery).days
        else:
            assert row["Time to Death (days)"] == "N/A"
        if row["Adjuvant Treatment"] == "Yes":
            assert row["Chemotherapy"] == "Yes"
        else:
            assert row["Chemotherapy"] == row["Radiation"] == "No"


def test_outcome_days_match_the_ground_truth(
    small_cohort: DemoCohort, small_ground_truth: pd.DataFrame
) -> None:
    demo = _read(small_cohort.clinical_csv).set_index("Case ID")
    for _, truth in small_ground_truth.iterrows():
        row = demo.loc[truth["patient_id"]]
        ct = _date(row["CT Date"])
        assert ct.isoformat() == truth["ct_date"]
        if not truth["recurrence_collected"]:
            assert row["Recurrence"] == "Not collected"
            continue
        assert row["Recurrence"] == ("yes" if truth["event"] else "no")
        end = row["Date of Recurrence"] if truth["event"] else row["Date of Last Known Alive"]
        assert (_date(end) - ct).days == truth["observed_days"]
        assert (row["Adjuvant Treatment"] == "Yes") == truth["adjuvant"]


def test_the_project_parser_reads_it(small_cohort: DemoCohort) -> None:
    labels = read_clinical_labels(small_cohort.clinical_csv)
    assert labels.rejected == ()
    assert len(labels.frame) == small_cohort.config.n_patients
