"""The raw and cohort assets on the real public files, with counts computed independently.

The local source reads the real TCIA clinical labels, the real 1000-gene GSE103584 derivative
and the two real (partial) CT series. No real SEG is available here, so the imaging criteria are
switched off in the cohort resource and the flow is checked against plain pandas on the same files.
"""

from __future__ import annotations

import pandas as pd
from dagster import materialize

from radiogenomics_assets.defs.assets.cohort import outcomes, patients, study_cohort_and_flow
from radiogenomics_assets.defs.assets.genomics import gene_expression, gene_matrix_top500
from radiogenomics_assets.defs.assets.raw import (
    clinical_labels,
    imaging_manifest,
    rnaseq_expression,
)
from radiogenomics_assets.defs.resources.cohort import CohortResource
from radiogenomics_assets.defs.resources.source import LocalSourceResource
from radiogenomics_assets_tests.cohort.real_files import kept_by_rule
from radiogenomics_assets_tests.dagster_layer.conftest import resources_for

CLINICAL = (
    "nsclc-radiogenomics-clinical/NSCLCR01Radiogenomic_DATA_LABELS_2018-05-22_1500-shifted.csv"
)
ZSCORE = "nsclc-radiogenomics-rnaseq-derived/df_zscore.csv"
CT = "nsclc-radiogenomics-ct-r01-partial"

NO_IMAGING = CohortResource(require_ct=False, require_seg=False)


def _expected_flow(shared_data, rule: str = "paper") -> list[int]:
    labels = pd.read_csv(shared_data / CLINICAL, dtype=str, keep_default_na=False)
    rna_ids = set(pd.read_csv(shared_data / ZSCORE, index_col=0, nrows=1).columns)
    with_rna = labels[labels["Case ID"].isin(rna_ids)]
    known = with_rna[with_rna["Recurrence"].str.strip().str.lower().isin(["yes", "no"])]
    ct = pd.to_datetime(known["CT Date"], format="%m/%d/%Y")
    end = pd.to_datetime(
        known["Date of Recurrence"].where(
            known["Recurrence"].str.lower() == "yes", known["Date of Last Known Alive"]
        ),
        format="%m/%d/%Y",
    )
    valid = known[(end - ct).dt.days > 0]
    kept = valid[kept_by_rule(valid, rule)]
    return [len(labels), len(with_rna), len(known), len(valid), len(kept)]


def test_cohort_assets_on_the_real_files(shared_data, store) -> None:
    source = LocalSourceResource(
        dicom_root=str(shared_data / CT),
        clinical_csv=str(shared_data / CLINICAL),
        rnaseq_matrix=str(shared_data / ZSCORE),
    )
    result = materialize(
        [
            clinical_labels,
            rnaseq_expression,
            imaging_manifest,
            outcomes,
            patients,
            study_cohort_and_flow,
            gene_expression,
            gene_matrix_top500,
        ],
        resources=resources_for(store, source, NO_IMAGING),
    )
    assert result.success

    with store.get_connection() as conn:
        flow = conn.execute("SELECT * FROM cohort.consort_flow ORDER BY step").fetchdf()
        manifest = conn.execute("SELECT * FROM raw.imaging_manifest").fetchdf()
        cohort = conn.execute("SELECT * FROM cohort.study_cohort").fetchdf()
        one_gene = conn.execute(
            "SELECT count(*) FROM features.gene_expression WHERE gene = ?", ["TOR1AIP1"]
        ).fetchone()
        top = conn.execute(
            "SELECT count(DISTINCT gene) FROM features.gene_matrix_top500"
        ).fetchone()

    assert flow["patients_remaining"].tolist() == _expected_flow(shared_data)
    assert len(cohort) == flow["patients_remaining"].iloc[-1]
    assert sorted(manifest["patient_id"]) == ["R01-005", "R01-012"]
    assert set(manifest["modality"]) == {"CT"}
    assert one_gene == (len(cohort),)
    assert top == (500,)


def test_the_therapy_rule_reaches_the_cohort_assets(shared_data, store) -> None:
    source = LocalSourceResource(
        dicom_root=str(shared_data / CT),
        clinical_csv=str(shared_data / CLINICAL),
        rnaseq_matrix=str(shared_data / ZSCORE),
    )
    cohort = CohortResource(require_ct=False, require_seg=False, therapy_rule="keep_chemoradiation")
    assets = [clinical_labels, rnaseq_expression, imaging_manifest, outcomes, patients]
    result = materialize(
        [*assets, study_cohort_and_flow],
        resources=resources_for(store, source, cohort),
    )
    assert result.success
    with store.get_connection() as conn:
        flow = conn.execute("SELECT * FROM cohort.consort_flow ORDER BY step").fetchdf()
        n_cohort = conn.execute("SELECT count(*) FROM cohort.study_cohort").fetchone()
    assert flow["patients_remaining"].tolist() == _expected_flow(shared_data, "keep_chemoradiation")
    assert flow["description"].iloc[-1] == "no adjuvant therapy, or chemotherapy with radiation"
    assert n_cohort == (flow["patients_remaining"].iloc[-1],)
