"""The cohort code on the real public files, checked against plain-pandas counts made here.

Imaging manifest: the shared IDC table has no Modality column, so each of its series is looked up
in the IDC index shipped with ``idc-index-data`` (a pinned dependency, read offline). Only the
collection's own TCIA series are used (CT, PT and its 144 DICOM SEG nodule segmentations); the
AI-generated AIMI series that IDC added later carry another DOI and are left out.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import duckdb
import idc_index_data
import pandas as pd
import pytest

from radiogenomics_assets.cohort.availability import availability, unmatched_patients
from radiogenomics_assets.cohort.checks import (
    check_has_events,
    check_positive_days,
    check_unique_patient_ids,
)
from radiogenomics_assets.cohort.clinical import type_clinical_labels
from radiogenomics_assets.cohort.criteria import (
    CohortCriteria,
    apply_criteria,
    consort_flow,
    flow_markdown,
    study_cohort,
)
from radiogenomics_assets.cohort.outcomes import compute_outcomes
from radiogenomics_assets.omics.geo import read_geo_matrix
from radiogenomics_assets.sources.clinical_csv import read_clinical_labels

CLINICAL = (
    "nsclc-radiogenomics-clinical/NSCLCR01Radiogenomic_DATA_LABELS_2018-05-22_1500-shifted.csv"
)
IDC_TABLE = "nsclc-radiogenomics-clinical/idc_manifest_full_table.csv"
EXPRESSION = "nsclc-radiogenomics-rnaseq-derived/df_zscore.csv"
TCIA_DOI = "10.7937/K9/TCIA.2017.7hs46erv"


@dataclass(frozen=True)
class RealInputs:
    csv: pd.DataFrame  # the clinical CSV read with plain pandas, every cell a string
    zscore: pd.DataFrame  # genes × patients
    manifest: pd.DataFrame  # patient_id, modality, series_uid
    typed: pd.DataFrame
    long: pd.DataFrame


@pytest.fixture(scope="module")
def real(shared_data: Path) -> RealInputs:
    query = """
        SELECT m.PatientID AS patient_id, i.Modality AS modality,
               m.SeriesInstanceUID AS series_uid
        FROM read_csv(?, all_varchar = true) AS m
        JOIN read_parquet(?) AS i USING (SeriesInstanceUID)
        WHERE m.source_DOI = ?
    """
    with duckdb.connect() as conn:
        manifest = conn.execute(
            query,
            [
                str(shared_data / IDC_TABLE),
                str(idc_index_data.IDC_INDEX_PARQUET_FILEPATH),
                TCIA_DOI,
            ],
        ).df()
    return RealInputs(
        csv=pd.read_csv(shared_data / CLINICAL, dtype=str, keep_default_na=False),
        zscore=pd.read_csv(shared_data / EXPRESSION, index_col=0),
        manifest=manifest,
        typed=type_clinical_labels(read_clinical_labels(shared_data / CLINICAL).frame),
        long=read_geo_matrix(shared_data / EXPRESSION).long,
    )


def _expected_flow(real: RealInputs, require_seg: bool) -> list[int]:
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
    no_therapy = (step5[["Adjuvant Treatment", "Chemotherapy", "Radiation"]] == "No").all(axis=1)
    step6 = step5[no_therapy]
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
