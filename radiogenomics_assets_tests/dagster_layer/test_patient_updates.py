"""A corrected series at a local source plans exactly that patient's partitions again.

The small demo cohort is copied into a plain local folder (the ``local`` source), ingested and
run per patient; then one patient's SEG is replaced by a corrected one (new series and instance
UIDs, as a re-segmentation has), the source is re-read, and a walk's plan (Dagster's automation
conditions, ``walk_plan``) is checked for every patient partition and the study tables.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest
from dagster import AssetKey, DagsterInstance
from pydicom.uid import generate_uid

from radiogenomics_assets.cli.graph_runner import execute, plan_phase
from radiogenomics_assets.definitions import build_definitions
from radiogenomics_assets.defs.assets import patient_assets
from radiogenomics_assets.defs.jobs import PHASES
from radiogenomics_assets.defs.names import PATIENTS_PARTITIONS
from radiogenomics_assets.defs.registration import register_patients_from_store
from radiogenomics_assets.defs.resources.source import LocalSourceResource

pytestmark = pytest.mark.slow

RANDOM_WEIGHTS = {"ops": {"features__densenet_features": {"config": {"weights": "random"}}}}
PATIENT_PHASE = next(p for p in PHASES if p.partitioned_by == "patients")
COHORT_PHASE = next(p for p in PHASES if p.job == "cohort_job")


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


def _planned(defs, instance, phase=PATIENT_PHASE, *, commit: bool = False) -> dict:
    """``{partition: planned keys}`` of a walk's plan of ``phase`` now."""
    plan = plan_phase(defs, instance, phase)
    if commit:  # what a walk does once the phase ran: later plans see only what changed since
        plan.commit(instance)
    return {partition: {p.key for p in planned} for partition, planned in plan.steps}


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
        assert _planned(defs, instance, commit=True) == {}

        corrected = patients[1]
        _correct_seg(Path(local_source.dicom_root), corrected)
        _ingest_and_sync(defs, instance, store)

        assert _planned(defs, instance) == {
            corrected: {key for a in patient_assets for key in a.keys}
        }


def _clear_one_mask_voxel(dicom_root: Path, patient: str) -> None:
    """A re-segmentation that shrinks the nodule by one voxel (new series, as a correction)."""
    (seg,) = [
        p for p in (dicom_root / patient).rglob("*.dcm") if pydicom.dcmread(p).Modality == "SEG"
    ]
    dataset = pydicom.dcmread(seg)
    pixels = bytearray(dataset.PixelData)
    index = next(i for i, byte in enumerate(pixels) if byte)
    pixels[index] &= pixels[index] - 1  # clears the lowest set bit: one mask voxel less
    dataset.PixelData = bytes(pixels)
    dataset.SeriesInstanceUID = generate_uid()
    dataset.SOPInstanceUID = generate_uid()
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.save_as(seg)


def test_a_changed_seg_plans_the_study_table(store, local_source) -> None:
    # The study-level table reads every patient's partition: the fan-in edge, which Dagster's
    # conditions compare at any number of partitions.
    defs = build_definitions(store, local_source)
    study_level = [
        AssetKey(["cohort", "patients"]),
        AssetKey(["cohort", "outcomes"]),
        AssetKey(["cohort", "study_cohort"]),
        AssetKey(["cohort", "consort_flow"]),
        AssetKey(["features", "radiomic_table"]),
        AssetKey(["features", "densenet_table"]),
    ]
    with DagsterInstance.ephemeral() as instance:
        _ingest_and_sync(defs, instance, store)
        patients = instance.get_dynamic_partitions(PATIENTS_PARTITIONS)
        for patient in patients:
            assert execute(defs, instance, "patient_assets_job", patient, RANDOM_WEIGHTS).success
        assert execute(defs, instance, "cohort_job", assets=study_level).success
        assert _planned(defs, instance, commit=True) == {}
        assert _planned(defs, instance, COHORT_PHASE, commit=True).keys() <= {None}
        with store.get_connection() as conn:
            table = conn.execute("SELECT patient_id FROM features.radiomic_table").fetchdf()
        changed = sorted(set(table["patient_id"]) & set(patients))[0]

        _clear_one_mask_voxel(Path(local_source.dicom_root), changed)
        _ingest_and_sync(defs, instance, store)
        assert execute(defs, instance, "patient_assets_job", changed, RANDOM_WEIGHTS).success

        cohort_plan = plan_phase(defs, instance, COHORT_PHASE)
        reasons = {p.key.to_user_string(): p.reason for _, ps in cohort_plan.steps for p in ps}
        assert reasons["features/radiomic_table"].startswith("an input's data version changed")
        # The corrected patient was run again outside the walk: nothing else to run.
        assert _planned(defs, instance) == {}
