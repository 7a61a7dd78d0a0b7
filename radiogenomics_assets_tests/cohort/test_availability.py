from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radiogenomics_assets.cohort.availability import (
    AVAILABILITY_COLUMNS,
    AvailabilityInputError,
    availability,
    unmatched_patients,
)
from radiogenomics_assets.ids import InvalidPatientIdError
from radiogenomics_assets.sources.base import empty_manifest


def _long(values: dict[str, list[float]]) -> pd.DataFrame:
    rows = [
        {"patient_id": patient, "gene": f"G{i}", "expression": value, "source_line": i + 2}
        for patient, series in values.items()
        for i, value in enumerate(series)
    ]
    return pd.DataFrame(rows)


def _manifest(rows: list[tuple[str, str]]) -> pd.DataFrame:
    frame = empty_manifest()
    for number, (patient, modality) in enumerate(rows):
        frame.loc[number] = {
            "patient_id": patient,
            "modality": modality,
            "series_uid": f"1.{number}",
        }
    return frame


def test_flags_and_counts_per_clinical_patient() -> None:
    long = _long({"A": [1.0, np.nan], "B": [np.nan, np.nan], "X": [2.0, 3.0]})
    manifest = _manifest([("A", "CT"), ("A", "seg"), ("A", "SEG"), ("B", " ct "), ("C", "PT")])
    frame = availability(["C", "A", "B"], long, manifest)
    assert list(frame.columns) == list(AVAILABILITY_COLUMNS)
    assert frame["patient_id"].tolist() == ["C", "A", "B"]
    assert frame["has_rnaseq"].tolist() == [False, True, False]  # B has only NA
    assert frame["n_expression_values"].tolist() == [0, 1, 0]
    assert frame["has_ct"].tolist() == [False, True, True]
    assert frame["n_seg_series"].tolist() == [0, 2, 0]
    assert frame["has_seg"].tolist() == [False, True, False]  # PT is not a CT


def test_patients_outside_the_clinical_file_are_reported_not_dropped() -> None:
    long = _long({"A": [1.0], "R-RNA": [2.0]})
    manifest = _manifest([("A", "CT"), ("R-IMG", "CT"), ("R-RNA", "SEG")])
    frame = unmatched_patients(["A", "B"], long, manifest)
    assert frame[["patient_id", "source"]].values.tolist() == [
        ["R-RNA", "rnaseq_expression"],
        ["R-IMG", "imaging_manifest"],
        ["R-RNA", "imaging_manifest"],
    ]
    assert frame["reason"].str.contains("not in the clinical labels").all()
    assert availability(["A", "B"], long, manifest)["patient_id"].tolist() == ["A", "B"]


def test_clinical_patient_absent_from_rnaseq_has_no_rnaseq() -> None:
    frame = availability(["A", "Z"], _long({"A": [1.0]}), empty_manifest())
    assert frame["has_rnaseq"].tolist() == [True, False]
    assert not frame["has_ct"].any()


def test_bad_inputs_are_named() -> None:
    long = _long({"A": [1.0]})
    with pytest.raises(AvailabilityInputError, match=r"duplicates: \['A'\]"):
        availability(["A", "A"], long, empty_manifest())
    with pytest.raises(
        AvailabilityInputError, match=r"imaging manifest lacks column\(s\) \['modality'\]"
    ):
        availability(["A"], long, empty_manifest().drop(columns=["modality"]))
    with pytest.raises(AvailabilityInputError, match=r"rnaseq long table lacks .*'expression'"):
        unmatched_patients(["A"], long.drop(columns=["expression"]), empty_manifest())
    with pytest.raises(InvalidPatientIdError, match="A;B"):
        availability(["A;B"], long, empty_manifest())
