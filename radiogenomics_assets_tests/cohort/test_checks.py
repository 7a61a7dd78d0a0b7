from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radiogenomics_assets.cohort.checks import (
    check_all_na_genes,
    check_expression_complete,
    check_has_events,
    check_mostly_na_patients,
    check_positive_days,
    check_unique_patient_ids,
)


def test_unique_patient_ids() -> None:
    good = check_unique_patient_ids(pd.DataFrame({"patient_id": ["A", "B"]}), "cohort.patients")
    assert good.passed and good.severity == "blocking" and good.offending_ids == ()
    bad = check_unique_patient_ids(pd.DataFrame({"patient_id": ["B", "A", "B", None]}))
    assert not bad.passed
    assert bad.offending_ids == ("<NULL>", "B")
    assert "(2): <NULL>, B" in bad.message


def test_positive_days_lists_missing_and_non_positive() -> None:
    cohort = pd.DataFrame(
        {"patient_id": ["A", "B", "C", "D"], "days": pd.array([10, 0, None, -3], dtype="Int64")}
    )
    outcome = check_positive_days(cohort)
    assert outcome.offending_ids == ("B", "C", "D")
    assert check_positive_days(cohort.iloc[:1]).passed


def test_has_events() -> None:
    censored = pd.DataFrame({"patient_id": ["A", "B"], "event": pd.array([0, 0], dtype="Int8")})
    outcome = check_has_events(censored)
    assert not outcome.passed and outcome.offending_ids == ("A", "B")
    assert "no recurrence event" in outcome.message
    with_event = censored.assign(event=pd.array([0, 1], dtype="Int8"))
    assert check_has_events(with_event).message == "1 events among 2 cohort patients"
    empty = check_has_events(censored.iloc[:0])
    assert not empty.passed and empty.offending_ids == ("<empty cohort>",)


def test_expression_complete() -> None:
    matrix = pd.DataFrame({"G1": [1.0, np.nan, 3.0], "G2": [1.0, 2.0, 3.0]}, index=["A", "B", "C"])
    assert check_expression_complete(["A", "C"], matrix, ["G1", "G2"]).passed
    assert check_expression_complete(["A", "B"], matrix, ["G2"]).passed
    outcome = check_expression_complete(["A", "B", "Z"], matrix, ["G1"])
    assert outcome.offending_ids == ("B", "Z")
    missing_gene = check_expression_complete(["A"], matrix, ["G1", "G9"])
    assert not missing_gene.passed and missing_gene.offending_ids == ("A",)
    assert "['G9']" in missing_gene.message


def test_warn_checks_on_the_raw_long_table() -> None:
    long = pd.DataFrame(
        {
            "patient_id": ["A", "A", "A", "B", "B", "B"],
            "gene": ["G1", "G2", "G3", "G1", "G2", "G3"],
            "expression": [1.0, np.nan, np.nan, 2.0, np.nan, 3.0],
        }
    )
    genes = check_all_na_genes(long)
    assert genes.severity == "warn" and genes.offending_ids == ("G2",)
    patients = check_mostly_na_patients(long, threshold=0.5)
    assert patients.offending_ids == ("A",)  # 2 of 3 NA; B has 1 of 3
    assert check_mostly_na_patients(long, threshold=0.7).passed
    with pytest.raises(ValueError, match="threshold must lie in"):
        check_mostly_na_patients(long, threshold=50)
