from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from radiogenomics_assets.cohort.clinical import type_clinical_labels
from radiogenomics_assets.cohort.criteria import (
    CRITERIA,
    CohortCriteria,
    CohortInputError,
    apply_criteria,
    consort_flow,
    flow_markdown,
    study_cohort,
)
from radiogenomics_assets.cohort.outcomes import compute_outcomes
from radiogenomics_assets_tests.cohort.builders import availability_frame, raw_clinical

NO_RECURRENCE = {"recurrence": "no", "date_of_recurrence": "N/A"}


def _codes(column: pd.Series) -> list[str | None]:
    return [None if pd.isna(value) else str(value) for value in column]


def _patients(
    rows: list[dict[str, str | None]],
    criteria: CohortCriteria | None = None,
    **missing: tuple[str, ...],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    criteria = criteria or CohortCriteria()
    typed = type_clinical_labels(raw_clinical(*rows))
    outcomes = compute_outcomes(typed, origin=criteria.origin)
    available = availability_frame(typed["patient_id"].tolist(), **missing)
    return apply_criteria(typed, outcomes, available, criteria), outcomes


def test_order_of_criteria_is_the_documented_one() -> None:
    assert [code for code, _, _ in CRITERIA] == [
        "no_rnaseq",
        "no_ct",
        "no_seg",
        "recurrence_unknown",
        "invalid_outcome",
        "adjuvant_therapy",
    ]
    assert [code for code, _ in CohortCriteria().enabled()] == [c for c, _, _ in CRITERIA]


def test_each_patient_gets_the_first_criterion_it_fails() -> None:
    bad_everything = {"recurrence": "Not collected", "adjuvant_treatment": "Yes"}
    patients, _ = _patients(
        [
            {},  # P-001 included
            bad_everything,  # P-002 fails all, but RNA-seq is checked first
            bad_everything,  # P-003 has RNA-seq, lacks CT
            bad_everything,  # P-004 has RNA-seq and CT, lacks SEG
            bad_everything,  # P-005 has all data: recurrence comes next
            {"ct_date": "", "adjuvant_treatment": "Yes"},  # P-006 outcome before therapy
            {"adjuvant_treatment": "Yes", "chemotherapy": "Yes"},  # P-007
        ],
        no_rnaseq=("P-002",),
        no_ct=("P-002", "P-003"),
        no_seg=("P-002", "P-003", "P-004"),
    )
    assert _codes(patients["exclusion_reason"]) == [
        None,
        "no_rnaseq",
        "no_ct",
        "no_seg",
        "recurrence_unknown",
        "invalid_outcome",
        "adjuvant_therapy",
    ]
    assert patients["included"].tolist() == [True] + [False] * 6
    assert patients["exclusion_detail"].tolist()[4:] == [
        "recurrence is not_collected (raw 'Not collected')",
        "ct_date is missing",
        "received adjuvant, chemotherapy",
    ]
    assert list(patients.columns[:4]) == [
        "patient_id",
        "included",
        "exclusion_reason",
        "exclusion_detail",
    ]


def test_switching_a_criterion_off_moves_patients_to_the_next_one() -> None:
    rows = [{"adjuvant_treatment": "Yes"}, {}]
    criteria = CohortCriteria(require_seg=False)
    patients, _ = _patients(rows, criteria, no_seg=("P-001", "P-002"))
    assert _codes(patients["exclusion_reason"]) == ["adjuvant_therapy", None]
    everyone = CohortCriteria(require_seg=False, exclude_adjuvant_therapy=False)
    patients, _ = _patients(rows, everyone, no_seg=("P-001", "P-002"))
    assert patients["included"].tolist() == [True, True]


def test_therapy_flags_are_configurable_and_unknown_therapy_is_excluded_by_default() -> None:
    rows = [
        {"radiation": "Yes"},
        {"adjuvant_treatment": "Not Collected", "chemotherapy": "", "radiation": "N/A"},
        {"adjuvant_treatment": "Not Collected"},
    ]
    patients, _ = _patients(rows)
    assert _codes(patients["exclusion_reason"]) == ["adjuvant_therapy", "adjuvant_therapy", None]
    assert patients.loc[1, "exclusion_detail"] == (
        "therapy not recorded (adjuvant, chemotherapy, radiation missing)"
    )
    adjuvant_only = CohortCriteria(therapy_flags=("adjuvant",), exclude_unknown_therapy=False)
    patients, _ = _patients(rows, adjuvant_only)
    assert patients["included"].tolist() == [True, True, True]


def test_criteria_validate_their_options() -> None:
    with pytest.raises(ValueError, match="therapy_flags must be a non-empty subset"):
        CohortCriteria(therapy_flags=("surgery",))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="origin must be one of"):
        CohortCriteria(origin="death")  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        CohortCriteria().require_ct = False  # type: ignore[misc]


def test_consort_flow_counts_and_markdown() -> None:
    rows = [{}, {}, {"adjuvant_treatment": "Yes"}, NO_RECURRENCE, {"recurrence": "?"}]
    patients, _ = _patients(rows, no_rnaseq=("P-002",))
    flow = consort_flow(patients)
    assert flow["criterion"].tolist() == ["clinical_labels", *[c for c, _, _ in CRITERIA]]
    assert flow["patients_removed"].tolist() == [0, 1, 0, 0, 1, 0, 1]
    assert flow["patients_remaining"].tolist() == [5, 4, 4, 4, 3, 3, 2]
    assert flow["patients_remaining"].iloc[-1] == patients["included"].sum()
    text = flow_markdown(flow)
    lines = text.splitlines()
    assert lines[0] == "| step | criterion | patients remaining | patients removed |"
    assert len(lines) == 2 + len(flow)
    assert lines[-1] == "| 6 | no adjuvant/neo-adjuvant therapy (`adjuvant_therapy`) | 2 | 1 |"


def test_consort_flow_omits_disabled_criteria_and_refuses_foreign_codes() -> None:
    criteria = CohortCriteria(require_ct=False, require_seg=False)
    patients, _ = _patients([{}, {"adjuvant_treatment": "Yes"}], criteria)
    flow = consort_flow(patients, criteria)
    assert "no_ct" not in flow["criterion"].tolist()
    strict, _ = _patients([{}, {}], no_seg=("P-001",))
    with pytest.raises(CohortInputError, match=r"exclusion code\(s\) \['no_seg'\]"):
        consort_flow(strict, criteria)


def test_inputs_must_describe_the_same_patients_and_origin() -> None:
    typed = type_clinical_labels(raw_clinical({}, {}))
    outcomes = compute_outcomes(typed)
    available = availability_frame(["P-001", "P-002"])
    with pytest.raises(CohortInputError, match=r"outcomes does not cover .*missing \['P-002'\]"):
        apply_criteria(typed, outcomes.iloc[:1], available)
    with pytest.raises(CohortInputError, match=r"availability .*extra \['P-009'\]"):
        apply_criteria(typed, outcomes, availability_frame(["P-001", "P-002", "P-009"]))
    with pytest.raises(CohortInputError, match=r"availability lists patient id\(s\) \['P-001'\]"):
        apply_criteria(typed, outcomes, availability_frame(["P-001", "P-001", "P-002"]))
    with pytest.raises(CohortInputError, match=r"availability.has_ct is NULL for \['P-002'\]"):
        apply_criteria(typed, outcomes, available.assign(has_ct=[True, None]))
    with pytest.raises(CohortInputError, match=r"outcomes table lacks column\(s\) \['days'\]"):
        apply_criteria(typed, outcomes.drop(columns=["days"]), available)
    with pytest.raises(CohortInputError, match=r"origin .*'surgery'"):
        apply_criteria(typed, outcomes, available, CohortCriteria(origin="surgery"))


def test_study_cohort_keeps_included_patients_with_their_outcome() -> None:
    patients, outcomes = _patients([{}, {"adjuvant_treatment": "Yes"}, NO_RECURRENCE])
    cohort = study_cohort(patients, outcomes)
    assert cohort["patient_id"].tolist() == ["P-001", "P-003"]
    assert cohort["event"].tolist() == [1, 0]
    expected_days = outcomes.set_index("patient_id").loc[["P-001", "P-003"], "days"].tolist()
    assert cohort["days"].tolist() == expected_days
    assert {"origin", "origin_date", "end_date", "gender"} <= set(cohort.columns)
    with pytest.raises(CohortInputError, match=r"\['P-003'\] have no outcome row"):
        study_cohort(patients, outcomes.iloc[:1])
