"""The raw assets on the ``tcia`` source, served by the loopback NBIA server from the demo cohort.

The server holds the small demo cohort's real CT and SEG series, its clinical CSV and its gzipped
GEO matrix, plus one CT series that no SEG references. Every expectation is computed from the
served bytes, not from the pipeline's own parsers.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance, materialize

from radiogenomics_assets.defs.assets.raw import (
    clinical_labels,
    ct_series,
    imaging_manifest,
    nodule_segmentation,
    rnaseq_expression,
)
from radiogenomics_assets.defs.registration import register_patients_from_store
from radiogenomics_assets.defs.resources.source import IdcSourceResource, TciaSourceResource
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.sources.demo import DemoCohort
from radiogenomics_assets.sources.http import RetryPolicy
from radiogenomics_assets_tests.dagster_layer.conftest import resources_for
from radiogenomics_assets_tests.sources.demo_series import (
    Cohort,
    ServedSeries,
    as_new_series,
    demo_cohort_series,
)
from radiogenomics_assets_tests.sources.nbia_server import (
    Fault,
    NbiaTestServer,
    running_nbia_server,
)

INGEST = [clinical_labels, rnaseq_expression, imaging_manifest]
PER_PATIENT = [nodule_segmentation, ct_series]
CLINICAL_FILE = "NSCLCR01Radiogenomic_DATA_LABELS_2018-05-22_1500-shifted.csv"
RNASEQ_FILE = "GSE103584_R01_NSCLC_RNAseq.txt.gz"
HTTP_ATTEMPTS = 2


@dataclass(frozen=True)
class Served:
    """What the loopback archive holds and the resource that points at it."""

    server: NbiaTestServer
    cohort: Cohort
    unreferenced_ct: ServedSeries
    clinical_csv: bytes
    rnaseq_matrix: bytes
    source: TciaSourceResource


@pytest.fixture(scope="module")
def demo_series(small_cohort: DemoCohort) -> tuple[Cohort, ServedSeries]:
    """The demo cohort's series and a second, shorter CT of the first patient that no SEG uses."""
    cohort = demo_cohort_series(small_cohort.dicom_root)
    first_ct = next(iter(cohort.values()))[0]
    extra = as_new_series(first_ct, n_instances=5, series_number=3, description="Thorax 1.0 B70f")
    return cohort, extra


@pytest.fixture
def served(small_cohort: DemoCohort, demo_series: tuple[Cohort, ServedSeries]) -> Iterator[Served]:
    cohort, extra = demo_series
    state = NbiaTestServer()
    for ct, seg in cohort.values():
        state.add(ct, seg)
    state.add(extra)
    clinical = small_cohort.clinical_csv.read_bytes()
    matrix = small_cohort.rnaseq_matrix.read_bytes()
    state.files.update({CLINICAL_FILE: clinical, RNASEQ_FILE: matrix})
    with running_nbia_server(state) as running:
        source = TciaSourceResource(
            base_url=running.base_url,
            clinical_url=f"{running.files_url}/{CLINICAL_FILE}",
            rnaseq_url=f"{running.files_url}/{RNASEQ_FILE}",
            http_attempts=HTTP_ATTEMPTS,
            http_backoff_s=0.0,
        )
        yield Served(running, cohort, extra, clinical, matrix, source)


def _table(store: StoreResource, name: str) -> pd.DataFrame:
    with store.get_connection() as conn:
        return conn.execute(f"SELECT * FROM {name}").fetchdf()


def _failure_message(result) -> str:
    return " ".join(
        event.step_failure_data.error.to_string()
        for event in result.all_events
        if event.is_step_failure
    )


def _digests(series: ServedSeries) -> set[str]:
    return {hashlib.sha256(data).hexdigest() for _, data in series.files}


def _ingest(served: Served, store: StoreResource, instance: DagsterInstance) -> list[str]:
    resources = resources_for(store, served.source)
    result = materialize(INGEST, instance=instance, resources=resources, raise_on_error=False)
    assert result.success, _failure_message(result)
    return register_patients_from_store(instance, store)


def _run_patient(served: Served, store: StoreResource, instance: DagsterInstance, patient: str):
    return materialize(
        PER_PATIENT,
        partition_key=patient,
        instance=instance,
        resources=resources_for(store, served.source),
        raise_on_error=False,
    )


def _assert_series_rows(frame: pd.DataFrame, patient: str, series: ServedSeries) -> None:
    rows = frame[frame["patient_id"] == patient]
    assert set(rows["series_uid"]) == {series.series_uid}
    assert set(rows["sha256"]) == _digests(series)
    assert len(rows) == len(series.files)
    assert (rows["source"] == "tcia").all()
    # Each stored copy is traced to its member of the getImage zip it came in.
    url = f"/getImage?SeriesInstanceUID={series.series_uid}"
    assert rows["source_file"].str.endswith(url).all() and rows["source_file"].is_unique


def _assert_published(store: StoreResource, series: ServedSeries) -> None:
    folder = store.files.path("raw", series.modality.lower(), series.patient_id, series.series_uid)
    (published,) = folder.iterdir()  # one version, named by its content; no staging left
    on_disk = {hashlib.sha256(p.read_bytes()).hexdigest() for p in published.iterdir()}
    assert on_disk == _digests(series)
    assert [p.name for p in folder.parent.iterdir()] == [series.series_uid]


def test_ingest_tables_match_the_served_files(
    served: Served, store: StoreResource, instance: DagsterInstance
) -> None:
    patients = _ingest(served, store, instance)
    assert patients == sorted(served.cohort)

    csv = pd.read_csv(io.BytesIO(served.clinical_csv), dtype=str)
    clinical = _table(store, "raw.clinical_labels")
    assert sorted(clinical["patient_id"]) == sorted(csv["Case ID"])
    digest = hashlib.sha256(served.clinical_csv).hexdigest()
    stored = store.files.path("raw", "clinical_labels", f"{digest}.csv")
    assert stored.read_bytes() == served.clinical_csv
    # Where each file came from is the URL the user configured, not the store's copy.
    origins = _table(store, "raw.stored_files").set_index("recorded_by")["source_file"]
    assert origins["raw/clinical_labels"] == served.source.clinical_url
    assert origins["raw/rnaseq_expression"] == served.source.rnaseq_url

    matrix = pd.read_csv(
        io.BytesIO(gzip.decompress(served.rnaseq_matrix)),
        sep="\t",
        index_col=0,
        na_values=["NA"],
        keep_default_na=False,
    )
    expected = matrix.stack(future_stack=True).rename("expected")
    expected.index.names = ["gene", "patient_id"]
    rnaseq = _table(store, "raw.rnaseq_expression").set_index(["gene", "patient_id"])
    joined = rnaseq.join(expected, how="outer")
    assert len(joined) == len(rnaseq) == matrix.size
    pd.testing.assert_series_equal(
        joined["expression"], joined["expected"], check_names=False, check_dtype=False
    )

    manifest = _table(store, "raw.imaging_manifest").set_index("series_uid")
    all_series = [s for pair in served.cohort.values() for s in pair] + [served.unreferenced_ct]
    assert sorted(manifest.index) == sorted(s.series_uid for s in all_series)
    for series in all_series:
        row = manifest.loc[series.series_uid]
        assert (row["patient_id"], row["modality"]) == (series.patient_id, series.modality)
        assert (row["instance_count"], row["size_bytes"]) == (len(series.files), series.size_bytes)
    assert manifest["referenced_series_uid"].isna().all()
    assert served.server.requested_images() == {}


def test_each_patient_gets_its_seg_and_only_the_ct_the_seg_references(
    served: Served, store: StoreResource, instance: DagsterInstance
) -> None:
    patients = _ingest(served, store, instance)
    for patient in patients:
        result = _run_patient(served, store, instance, patient)
        assert result.success, _failure_message(result)

    expected_requests = {series.series_uid: 1 for pair in served.cohort.values() for series in pair}
    assert served.server.requested_images() == expected_requests
    assert served.server.image_requests(served.unreferenced_ct.series_uid) == 0
    assert (served.unreferenced_ct.patient_id, served.unreferenced_ct.modality) == (
        patients[0],
        "CT",
    )

    segs = _table(store, "raw.nodule_segmentation")
    cts = _table(store, "raw.ct_series")
    for patient, (ct, seg) in served.cohort.items():
        _assert_series_rows(segs, patient, seg)
        assert set(segs.loc[segs["patient_id"] == patient, "referenced_series_uid"]) == {
            ct.series_uid
        }
        _assert_series_rows(cts, patient, ct)
        _assert_published(store, seg)
        _assert_published(store, ct)


def test_a_failing_ct_download_fails_only_its_partition_and_a_rerun_completes_it(
    served: Served, store: StoreResource, instance: DagsterInstance
) -> None:
    patients = _ingest(served, store, instance)
    victim, *others = patients[::-1]
    for patient in others:
        assert _run_patient(served, store, instance, patient).success
    before = _table(store, "raw.ct_series").sort_values("path").reset_index(drop=True)

    ct, seg = served.cohort[victim]
    served.server.faults[ct.series_uid] = Fault("status", status=503, times=None)
    result = _run_patient(served, store, instance, victim)
    assert not result.success
    message = _failure_message(result)
    assert "RetriesExhaustedError" in message
    assert f"SeriesInstanceUID={ct.series_uid}" in message and "HTTP 503" in message
    assert served.server.image_requests(ct.series_uid) == HTTP_ATTEMPTS
    ct_folder = store.files.path("raw", "ct", victim, ct.series_uid)
    assert not ct_folder.exists()
    assert list(ct_folder.parent.iterdir()) == []
    # The SEG came first and is complete; only the CT step failed.
    _assert_published(store, seg)
    after = _table(store, "raw.ct_series").sort_values("path").reset_index(drop=True)
    pd.testing.assert_frame_equal(after, before)
    assert victim not in set(after["patient_id"])

    del served.server.faults[ct.series_uid]
    rerun = _run_patient(served, store, instance, victim)
    assert rerun.success, _failure_message(rerun)
    cts = _table(store, "raw.ct_series")
    _assert_series_rows(cts, victim, ct)
    _assert_published(store, ct)
    for patient in others:
        _assert_series_rows(cts, patient, served.cohort[patient][0])


@pytest.mark.parametrize("resource", [TciaSourceResource, IdcSourceResource])
def test_the_resource_passes_its_retry_budget_to_the_remote_sources(
    resource: type[TciaSourceResource | IdcSourceResource], tmp_path: Path
) -> None:
    default = resource().build(tmp_path)
    assert default.http.retry == RetryPolicy()
    tuned = resource(http_attempts=3, http_backoff_s=0.25).build(tmp_path)
    assert tuned.http.retry == RetryPolicy(attempts=3, backoff_initial_s=0.25)
    with pytest.raises(ValueError, match="attempts must be >= 1, got 0"):
        resource(http_attempts=0).build(tmp_path)
