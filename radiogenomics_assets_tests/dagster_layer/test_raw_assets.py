"""The raw assets on the small demo cohort: tables, file store, data versions, reruns."""

from __future__ import annotations

import gzip

import pandas as pd
import pydicom
from dagster import materialize

from radiogenomics_assets.defs.assets.raw import (
    clinical_labels,
    ct_series,
    imaging_manifest,
    nodule_segmentation,
    rnaseq_expression,
)
from radiogenomics_assets.defs.registration import register_patients_from_store
from radiogenomics_assets.store.files import sha256_file
from radiogenomics_assets_tests.dagster_layer.conftest import resources_for

INGEST = [clinical_labels, rnaseq_expression, imaging_manifest]
PER_PATIENT = [nodule_segmentation, ct_series]


def _table(store, name: str) -> pd.DataFrame:
    with store.get_connection() as conn:
        return conn.execute(f"SELECT * FROM {name}").fetchdf()


def test_ingest_tables_match_the_source_files(store, demo_source, small_cohort, instance) -> None:
    result = materialize(INGEST, instance=instance, resources=resources_for(store, demo_source))
    assert result.success

    csv = pd.read_csv(small_cohort.clinical_csv, dtype=str)
    clinical = _table(store, "raw.clinical_labels")
    assert sorted(clinical["patient_id"]) == sorted(csv["Case ID"])
    event = result.asset_materializations_for_node("raw__clinical_labels")[0]
    assert event.metadata["sha256"].value == sha256_file(small_cohort.clinical_csv)

    with gzip.open(small_cohort.rnaseq_matrix, "rt") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        n_genes = sum(1 for _ in handle)
    rnaseq = _table(store, "raw.rnaseq_expression")
    assert len(rnaseq) == n_genes * (len(header) - 1)

    headers = [
        pydicom.dcmread(p, stop_before_pixels=True) for p in small_cohort.dicom_root.rglob("*.dcm")
    ]
    manifest = _table(store, "raw.imaging_manifest")
    assert sorted(manifest["series_uid"]) == sorted({h.SeriesInstanceUID for h in headers})


def test_per_patient_raw_assets_fetch_seg_first_and_rerun_idempotently(
    store, demo_source, small_cohort, instance
) -> None:
    resources = resources_for(store, demo_source)
    assert materialize(INGEST, instance=instance, resources=resources).success
    patients = register_patients_from_store(instance, store)
    assert patients

    for patient in [*patients, patients[0]]:  # the first patient twice: a rerun
        assert materialize(
            PER_PATIENT, partition_key=patient, instance=instance, resources=resources
        ).success

    seg = _table(store, "raw.nodule_segmentation")
    ct = _table(store, "raw.ct_series")
    assert sorted(seg["patient_id"].unique()) == patients
    assert not ct.duplicated(["patient_id", "sop_instance_uid"]).any()
    for patient in patients:
        referenced = set(seg.loc[seg["patient_id"] == patient, "referenced_series_uid"])
        assert set(ct.loc[ct["patient_id"] == patient, "series_uid"]) == referenced
    for row in ct.sample(5, random_state=0).itertuples():
        assert sha256_file(store.files.root / row.path) == row.sha256
