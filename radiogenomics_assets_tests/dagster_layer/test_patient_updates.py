"""A corrected series at a local source makes exactly that patient's partitions stale.

The small demo cohort is copied into a plain local folder (the ``local`` source), ingested and
run per patient; then one patient's SEG is replaced by a corrected one (new series and instance
UIDs, as a re-segmentation has), the source is re-read, and Dagster's stale status is checked
for every patient partition.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest
from dagster import AssetKey, DagsterInstance
from pydicom.uid import generate_uid

from radiogenomics_assets.assets import patient_assets
from radiogenomics_assets.definitions import build_definitions
from radiogenomics_assets.graph_runner import execute, plan_phase
from radiogenomics_assets.jobs import PHASES
from radiogenomics_assets.names import PATIENTS_PARTITIONS
from radiogenomics_assets.registration import register_patients_from_store
from radiogenomics_assets.resources.source import LocalSourceResource
from radiogenomics_assets.staleness import Staleness, StaleStatus

pytestmark = pytest.mark.slow

RANDOM_WEIGHTS = {"ops": {"features__densenet_features": {"config": {"weights": "random"}}}}
PATIENT_PHASE = next(p for p in PHASES if p.partitioned_by == "patients")


@pytest.fixture
def local_source(tmp_path: Path, small_cohort) -> LocalSourceResource:
    root = tmp_path / "local"
    shutil.copytree(small_cohort.dicom_root, root / "dicom")
    shutil.copy(small_cohort.clinical_csv, root / "clinical.csv")
    shutil.copy(small_cohort.rnaseq_matrix, root / "rnaseq.txt.gz")
    return LocalSourceResource(
        dicom_root=str(root / "dicom"),
        clinical_csv=str(root / "clinical.csv"),
        rnaseq_matrix=str(root / "rnaseq.txt.gz"),
    )


def _ingest_and_sync(defs, instance, store) -> None:
    assert execute(defs, instance, "ingest_job").success
    register_patients_from_store(instance, store, log=lambda _line: None)


def _not_fresh(defs, instance) -> set[tuple[str, str]]:
    staleness = Staleness(defs, instance)
    return {
        (key.to_user_string(), patient)
        for patient in instance.get_dynamic_partitions(PATIENTS_PARTITIONS)
        for a in patient_assets
        for key in a.keys
        if staleness.status(key, patient) != StaleStatus.FRESH
    }


def _correct_seg(dicom_root: Path, patient: str) -> None:
    (seg,) = [
        p for p in (dicom_root / patient).rglob("*.dcm") if pydicom.dcmread(p).Modality == "SEG"
    ]
    dataset = pydicom.dcmread(seg)
    dataset.SeriesInstanceUID = generate_uid()
    dataset.SOPInstanceUID = generate_uid()
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.SeriesDescription = "corrected segmentation"
    dataset.save_as(seg)


def test_a_corrected_seg_makes_only_that_patients_partitions_stale(store, local_source) -> None:
    defs = build_definitions(store, local_source)
    with DagsterInstance.ephemeral() as instance:
        _ingest_and_sync(defs, instance, store)
        patients = instance.get_dynamic_partitions(PATIENTS_PARTITIONS)
        for patient in patients:
            assert execute(defs, instance, "patient_assets_job", patient, RANDOM_WEIGHTS).success
        assert _not_fresh(defs, instance) == set()

        corrected = patients[1]
        _correct_seg(Path(local_source.dicom_root), corrected)
        _ingest_and_sync(defs, instance, store)

        assert _not_fresh(defs, instance) == {
            ("raw/nodule_segmentation", corrected),
            ("raw/ct_series", corrected),
        }
        plans = plan_phase(defs, instance, PATIENT_PHASE)
        assert [partition for partition, _ in plans] == [corrected]
        planned = {p.key for p in plans[0][1]}
        assert planned == {key for a in patient_assets for key in a.keys}
        assert AssetKey(["raw", "nodule_segmentation"]) in planned
