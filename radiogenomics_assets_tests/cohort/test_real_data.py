"""The cohort code on the real public files, checked against plain-pandas counts made here.

The inputs (clinical CSV, GSE103584 derivative, the collection's own IDC series) are read by
:mod:`radiogenomics_assets_tests.cohort.real_files`.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import get_args

import pandas as pd
import pytest

from radiogenomics_assets.cohort.availability import availability, unmatched_patients
from radiogenomics_assets.cohort.checks import (
    check_has_events,
    check_positive_days,
    check_unique_patient_ids,
)
from radiogenomics_assets.cohort.criteria import (
    CohortCriteria,
    TherapyRule,
    apply_criteria,
    consort_flow,
    flow_markdown,
    study_cohort,
)
from radiogenomics_assets.cohort.outcomes import compute_outcomes
from radiogenomics_assets_tests.cohort.real_files import RealInputs, kept_by_rule, load_real_inputs


@pytest.fixture(scope="module")
def real(shared_data: Path) -> RealInputs:
    return load_real_inputs(shared_data)


def _expected_flow(real: RealInputs, require_seg: bool, rule: str = "paper") -> list[int]:
    """Patients remaining after each criterion, computed with plain pandas."""
    csv = real.csv.set_index("Case ID")
    with_rna = set(real.zscore.columns[real.zscore.notna().any(axis=0)])
    with_ct = set(real.manifest.loc[real.manifest["modality"] == "CT", "patient_id"])
    with_seg = set(real.manifest.loc[real.manifest["modality"] == "SEG", "patient_id"])
    step1 = csv[csv.index.isin(with_rna)]
    step2 = step1[step1.index.isin(with_ct)]
    step3 = step2[step2.index.isin(with_seg)] if require_seg else step2
    step4 = step3[step3["Recurrence"].str.strip().str.lower().isin(["yes", "no"])]
    ct = pd.to_datetime(step4["CT Date"], format="%m/%d/%Y")
    recurred = step4["Recurrence"].str.strip().str.lower() == "yes"
    end = pd.to_datetime(
        step4["Date of Recurrence"].where(recurred, step4["Date of Last Known Alive"]),
        format="%m/%d/%Y",
    )
    step5 = step4[(end - ct).dt.days > 0]
    step6 = step5[kept_by_rule(step5, rule)]
    counts = [len(csv), len(step1), len(step2), len(step3), len(step4), len(step5), len(step6)]
    return counts if require_seg else counts[:3] + counts[4:]


@pytest.mark.parametrize("require_seg", [True, False])
def test_consort_counts_match_an_independent_computation(
    real: RealInputs, require_seg: bool
) -> None:
    criteria = CohortCriteria(require_seg=require_seg)
    outcomes = compute_outcomes(real.typed)
    available = availability(real.typed["patient_id"], real.long, real.manifest)
    patients = apply_criteria(real.typed, outcomes, available, criteria)
    flow = consort_flow(patients, criteria)
    expected = _expected_flow(real, require_seg)
    print("\n" + flow_markdown(flow))
    assert flow["patients_remaining"].tolist() == expected
    assert flow["patients_removed"].tolist() == [0] + [
        before - after for before, after in itertools.pairwise(expected)
    ]
    assert len(patients) == len(real.csv)
    assert check_unique_patient_ids(patients).passed


@pytest.mark.parametrize("require_seg", [True, False])
@pytest.mark.parametrize("rule", get_args(TherapyRule))
def test_every_therapy_rule_matches_an_independent_computation(
    real: RealInputs, require_seg: bool, rule: TherapyRule
) -> None:
    criteria = CohortCriteria(require_seg=require_seg, therapy_rule=rule)
    outcomes = compute_outcomes(real.typed)
    available = availability(real.typed["patient_id"], real.long, real.manifest)
    flow = consort_flow(apply_criteria(real.typed, outcomes, available, criteria), criteria)
    assert flow["patients_remaining"].tolist() == _expected_flow(real, require_seg, rule)


def test_the_paper_rule_still_gives_the_documented_counts(real: RealInputs) -> None:
    outcomes = compute_outcomes(real.typed)
    available = availability(real.typed["patient_id"], real.long, real.manifest)
    counts = {}
    for require_seg in (True, False):
        for criteria in (
            CohortCriteria(require_seg=require_seg),
            CohortCriteria(require_seg=require_seg, therapy_rule="paper"),
        ):
            flow = consort_flow(apply_criteria(real.typed, outcomes, available, criteria), criteria)
            counts[require_seg, criteria.therapy_rule] = flow["patients_remaining"].tolist()
    # README, "Cohort and outcome": the real TCIA CSV + GEO + IDC original SEGs.
    assert counts[True, "paper"] == [211, 130, 130, 117, 117, 117, 88]
    assert counts[False, "paper"] == [211, 130, 130, 130, 130, 93]
    for require_seg in (True, False):
        assert counts[require_seg, "paper"] == _expected_flow(real, require_seg)


def test_on_the_real_files_every_rule_keeps_the_papers_patients(real: RealInputs) -> None:
    outcomes = compute_outcomes(real.typed)
    available = availability(real.typed["patient_id"], real.long, real.manifest)
    kept = {}
    for rule in get_args(TherapyRule):
        patients = apply_criteria(
            real.typed, outcomes, available, CohortCriteria(therapy_rule=rule)
        )
        kept[rule] = set(patients.loc[patients["included"].astype(bool), "patient_id"])
    for rule in ("keep_chemotherapy", "keep_radiation", "keep_chemoradiation"):
        assert kept["paper"] <= kept[rule] <= kept["keep_any"], rule
    # On the public file radiation was only ever given with chemotherapy.
    assert kept["keep_radiation"] == kept["paper"]
    assert kept["paper"] < kept["keep_chemotherapy"] < kept["keep_any"]
    assert kept["paper"] < kept["keep_chemoradiation"] < kept["keep_any"]


def test_study_cohort_outcomes_match_plain_pandas(real: RealInputs) -> None:
    outcomes = compute_outcomes(real.typed)
    available = availability(real.typed["patient_id"], real.long, real.manifest)
    patients = apply_criteria(real.typed, outcomes, available)
    cohort = study_cohort(patients, outcomes).set_index("patient_id")

    csv = real.csv.set_index("Case ID").loc[cohort.index]
    recurred = csv["Recurrence"].str.strip().str.lower() == "yes"
    end = pd.to_datetime(
        csv["Date of Recurrence"].where(recurred, csv["Date of Last Known Alive"]),
        format="%m/%d/%Y",
    )
    days = (end - pd.to_datetime(csv["CT Date"], format="%m/%d/%Y")).dt.days
    assert cohort["days"].astype(int).tolist() == days.tolist()
    assert cohort["event"].astype(int).tolist() == recurred.astype(int).tolist()
    assert check_positive_days(cohort.reset_index()).passed
    assert check_has_events(cohort.reset_index()).passed


def test_surgery_origin_problems_match_plain_pandas(real: RealInputs) -> None:
    outcomes = compute_outcomes(real.typed, origin="surgery").set_index("patient_id")
    csv = real.csv.set_index("Case ID")
    status = csv["Recurrence"].str.strip().str.lower()
    known = csv[status.isin(["yes", "no"])]
    recurred = status[known.index] == "yes"
    end = pd.to_datetime(
        known["Date of Recurrence"].where(recurred, known["Date of Last Known Alive"]),
        format="%m/%d/%Y",
    )
    surgery = pd.to_datetime(known["CT Date"], format="%m/%d/%Y") + pd.to_timedelta(
        known["Days between CT and surgery"].astype(int), unit="D"
    )
    non_positive = set(known.index[((end - surgery).dt.days <= 0).to_numpy()])
    unknown_status = set(csv.index[~status.isin(["yes", "no"])])
    problems = set(outcomes.index[outcomes["outcome_problem"].notna()])
    assert problems == non_positive | unknown_status
    for patient in non_positive:
        assert "not positive" in outcomes.loc[patient, "outcome_problem"]


def test_no_patient_is_outside_the_clinical_file(real: RealInputs) -> None:
    unmatched = unmatched_patients(real.typed["patient_id"], real.long, real.manifest)
    expected = (set(real.zscore.columns) | set(real.manifest["patient_id"])) - set(
        real.csv["Case ID"]
    )
    assert set(unmatched["patient_id"]) == expected
