"""Per-patient partitions in parallel processes: no DuckDB lock failure, reruns stay local.

Two patient partitions run at once (two processes, as two launched runs), each on Dagster's
multiprocess executor (two step processes), so up to four processes write the one DuckDB file at
once. The code location is the
product's own, configured through the environment as a user would.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from dagster import AssetKey, AssetRecordsFilter, instance_for_test

from radiogenomics_assets.cli.graph_runner import execute
from radiogenomics_assets.definitions import build_definitions
from radiogenomics_assets.defs.registration import register_patients_from_store
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.defs.study import STUDY_ENV
from radiogenomics_assets_tests.dagster_layer.local_cohort import RANDOM_WEIGHTS_STUDY
from radiogenomics_assets_tests.dagster_layer.parallel_jobs import run_patient_partition

pytestmark = pytest.mark.slow

PATIENT_ASSETS = [
    ["raw", "nodule_segmentation"],
    ["raw", "ct_series"],
    ["features", "nodule_volume"],
    ["features", "radiomic_features"],
    ["features", "densenet_features"],
]
RUN_CONFIG = {"execution": {"config": {"multiprocess": {"max_concurrent": 2}}}}


@pytest.fixture
def local_environment(small_cohort, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("RADIOGENOMICS_HOME", str(home))
    monkeypatch.setenv("RADIOGENOMICS_SOURCE", "local")
    monkeypatch.setenv("RADIOGENOMICS_LOCAL_DICOM", str(small_cohort.dicom_root))
    monkeypatch.setenv("RADIOGENOMICS_LOCAL_CLINICAL", str(small_cohort.clinical_csv))
    monkeypatch.setenv("RADIOGENOMICS_LOCAL_RNASEQ", str(small_cohort.rnaseq_matrix))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv(STUDY_ENV, str(RANDOM_WEIGHTS_STUDY))
    return home


def _latest_ids(instance, patients: list[str]) -> dict[tuple[str, str], int]:
    ids = {}
    for path in PATIENT_ASSETS:
        for patient in patients:
            records = instance.fetch_materializations(
                AssetRecordsFilter(asset_key=AssetKey(path), asset_partitions=[patient]), limit=1
            ).records
            ids[("/".join(path), patient)] = records[0].storage_id
    return ids


def test_parallel_partitions_and_a_local_rerun(local_environment: Path, tmp_path: Path) -> None:
    # Built now, from the environment the fixture set (the module's `defs` was built when this
    # process first imported it); the worker processes import it afresh from the same variables.
    defs = build_definitions()
    store = StoreResource()
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    with instance_for_test(temp_dir=str(dagster_home)) as instance:
        assert execute(defs, instance, "ingest_job").success
        patients = register_patients_from_store(instance, store)[:2]
        assert len(patients) == 2

        def run_all(patients: list[str]) -> list[tuple[bool, str]]:
            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=2, mp_context=spawn) as pool:
                return list(
                    pool.map(
                        run_patient_partition,
                        [str(dagster_home)] * len(patients),
                        patients,
                        [RUN_CONFIG] * len(patients),
                    )
                )

        for patient, (ok, run_id) in zip(patients, run_all(patients), strict=True):
            assert ok, f"{patient}: run {run_id} failed"

        with store.get_connection() as conn:
            counts = conn.execute(
                "SELECT count(*), count(DISTINCT patient_id) FROM features.densenet_features"
            ).fetchone()
            volumes = conn.execute(
                "SELECT patient_id, mask_sha256 FROM features.nodule_volume ORDER BY 1"
            ).fetchall()
        assert counts == (2, 2)

        before = _latest_ids(instance, patients)
        assert run_all(patients[:1])[0][0]
        after = _latest_ids(instance, patients)
        changed = {key for key in before if before[key] != after[key]}
        assert changed == {(asset, patients[0]) for asset, _ in before}
        with store.get_connection() as conn:
            assert (
                conn.execute(
                    "SELECT patient_id, mask_sha256 FROM features.nodule_volume ORDER BY 1"
                ).fetchall()
                == volumes
            )
