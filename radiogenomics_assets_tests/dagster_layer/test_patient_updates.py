"""A corrected series at a local source plans exactly that patient's partitions again.

The small demo cohort is copied into a plain local folder (the ``local`` source), ingested and
run per patient; then one patient's SEG is replaced by a corrected one (new series and instance
UIDs, as a re-segmentation has), the source is re-read, and a walk's plan (Dagster's automation
conditions, ``walk_plan``) is checked for every patient partition and the study tables.
"""

from __future__ import annotations

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
from radiogenomics_assets_tests.dagster_layer.local_cohort import (
    clear_one_mask_voxel,
    copy_as_local_folder,
    random_weights,
)

pytestmark = pytest.mark.slow

PATIENT_PHASE = next(p for p in PHASES if p.partitioned_by == "patients")
COHORT_PHASE = next(p for p in PHASES if p.job == "cohort_job")


@pytest.fixture
def local_source(tmp_path: Path, small_cohort) -> LocalSourceResource:
    paths = copy_as_local_folder(small_cohort, tmp_path / "local")
    return LocalSourceResource(**{name: str(path) for name, path in paths.items()})


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
    defs = build_definitions(store, local_source, study=random_weights())
    with DagsterInstance.ephemeral() as instance:
        _ingest_and_sync(defs, instance, store)
        patients = instance.get_dynamic_partitions(PATIENTS_PARTITIONS)
        for patient in patients:
            assert execute(defs, instance, "patient_assets_job", patient).success
        assert _planned(defs, instance, commit=True) == {}

        corrected = patients[1]
        _correct_seg(Path(local_source.dicom_root), corrected)
        _ingest_and_sync(defs, instance, store)

        assert _planned(defs, instance) == {
            corrected: {key for a in patient_assets for key in a.keys}
        }


def test_a_changed_seg_plans_the_study_table(store, local_source) -> None:
    # The study-level table reads every patient's partition: the fan-in edge, which Dagster's
    # conditions compare at any number of partitions.
    defs = build_definitions(store, local_source, study=random_weights())
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
            assert execute(defs, instance, "patient_assets_job", patient).success
        assert execute(defs, instance, "cohort_job", assets=study_level).success
        assert _planned(defs, instance, commit=True) == {}
        assert _planned(defs, instance, COHORT_PHASE, commit=True).keys() <= {None}
        with store.get_connection() as conn:
            table = conn.execute("SELECT patient_id FROM features.radiomic_table").fetchdf()
        changed = sorted(set(table["patient_id"]) & set(patients))[0]

        clear_one_mask_voxel(Path(local_source.dicom_root), changed)
        _ingest_and_sync(defs, instance, store)
        assert execute(defs, instance, "patient_assets_job", changed).success

        cohort_plan = plan_phase(defs, instance, COHORT_PHASE)
        reasons = {p.key.to_user_string(): p.reason for _, ps in cohort_plan.steps for p in ps}
        assert reasons["features/radiomic_table"].startswith("an input's data version changed")
        # The corrected patient was run again outside the walk: nothing else to run.
        assert _planned(defs, instance) == {}
