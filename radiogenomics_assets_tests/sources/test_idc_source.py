"""IdcSource against a tiny index parquet and the loopback S3-like server."""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pydicom
import pytest

from radiogenomics_assets.sources.base import MANIFEST_COLUMNS
from radiogenomics_assets.sources.http import HttpClient, RetriesExhaustedError, RetryPolicy
from radiogenomics_assets.sources.idc import IdcSource
from radiogenomics_assets.sources.instances import (
    ChecksumMismatchError,
    InstanceCountMismatchError,
    SeriesMismatchError,
)
from radiogenomics_assets.sources.s3 import S3ListingError, S3Object, list_objects
from radiogenomics_assets.store.files import FileStore
from radiogenomics_assets_tests.sources.clients import SleepRecorder
from radiogenomics_assets_tests.sources.demo_series import Cohort, ServedSeries
from radiogenomics_assets_tests.sources.s3_server import (
    LISTING,
    S3Fault,
    S3TestServer,
    running_s3_server,
)

BUCKET = "idc-open-data"
#: Keys per listing page: a demo CT series (36 objects) takes several pages.
PAGE_SIZE = 16


@pytest.fixture
def s3(cohort: Cohort) -> Iterator[tuple[S3TestServer, dict[str, str]]]:
    """The cohort's series in a bucket, one ``<uuid>/`` folder each; yields (server, uid→uuid)."""
    state = S3TestServer(page_size=PAGE_SIZE)
    folders: dict[str, str] = {}
    for pair in cohort.values():
        for series in pair:
            folder = str(uuid.uuid4())
            folders[series.series_uid] = folder
            for _, data in series.files:
                state.put(BUCKET, f"{folder}/{uuid.uuid4()}.dcm", data)
    with running_s3_server(state) as running:
        yield running, folders


@pytest.fixture
def index_path(
    tmp_path: Path, cohort: Cohort, patient: str, s3: tuple[S3TestServer, dict[str, str]]
) -> Path:
    """A parquet with the IDC index columns the source reads, for the cohort plus one AI SEG."""
    _, folders = s3
    rows = []
    for pair in cohort.values():
        for series in pair:
            rows.append(_index_row(series, folders[series.series_uid], None))
    ai = cohort[patient][1]
    rows.append(
        {
            **_index_row(ai, str(uuid.uuid4()), "bamf_aimi_annotations"),
            "SeriesInstanceUID": "1.2.3.99",
            "SeriesDescription": "AIMI lung and nodule AI segmentation",
        }
    )
    rows.append({**rows[0], "collection_id": "other_collection", "SeriesInstanceUID": "1.2.3.98"})
    path = tmp_path / "index" / "idc_index.parquet"
    path.parent.mkdir()
    pd.DataFrame(rows).astype({"instanceCount": "int64"}).to_parquet(path)
    return path


def _index_row(series: ServedSeries, folder: str, analysis: str | None) -> dict[str, object]:
    return {
        "collection_id": "nsclc_radiogenomics",
        "analysis_result_id": analysis,
        "PatientID": series.patient_id,
        "SeriesInstanceUID": series.series_uid,
        "StudyInstanceUID": series.study_uid,
        "source_DOI": "10.7937/k9/tcia.2017.7hs46erv",
        "Modality": series.modality,
        "SeriesDescription": series.description,
        "instanceCount": len(series.files),
        "license_short_name": "CC BY 3.0",
        "aws_bucket": BUCKET,
        "crdc_series_uuid": folder,
        "series_aws_url": f"s3://{BUCKET}/{folder}/*",
        "series_size_MB": series.size_bytes / 1e6,
    }


def _source(s3: S3TestServer, index_path: Path, sleeps: SleepRecorder) -> IdcSource:
    http = HttpClient(
        timeout_s=(2.0, 5.0), retry=RetryPolicy(attempts=3, backoff_initial_s=0.01), sleep=sleeps
    )
    return IdcSource(index_path=index_path, s3_endpoint=s3.endpoint, http=http)


def _publish(source: IdcSource, store: FileStore, series: ServedSeries) -> Path:
    with store.atomic_directory("ct", series.patient_id, series.series_uid) as temp:
        source.fetch_series(series.patient_id, series.series_uid, temp, lambda _line: None)
    return store.path("ct", series.patient_id, series.series_uid)


def _expected_files(series: ServedSeries) -> dict[str, str]:
    return {
        f"{pydicom.dcmread(pydicom.filebase.DicomBytesIO(data)).SOPInstanceUID}.dcm": (
            hashlib.sha256(data).hexdigest()
        )
        for _, data in series.files
    }


def _assert_nothing_published(store: FileStore, series: ServedSeries) -> None:
    parent = store.path("ct", series.patient_id)
    assert not parent.exists() or list(parent.iterdir()) == []


def test_manifest_is_offline_and_keeps_only_original_segmentations(
    s3: tuple[S3TestServer, dict[str, str]],
    index_path: Path,
    cohort: Cohort,
    other_patient: str,
    sleeps: SleepRecorder,
) -> None:
    server, _ = s3
    log: list[str] = []
    manifest = _source(server, index_path, sleeps).imaging_manifest(log.append).frame
    assert list(manifest.columns) == list(MANIFEST_COLUMNS)
    assert set(manifest["series_uid"]) == {s.series_uid for pair in cohort.values() for s in pair}
    assert "1.2.3.99" not in set(manifest["series_uid"])
    assert "AI-derived SEG left out: 1" in log[-1]
    assert sum(server.requests.values()) == 0
    ct = cohort[other_patient][0]
    row = manifest[manifest["series_uid"] == ct.series_uid].iloc[0]
    assert row["size_bytes"] == ct.size_bytes
    assert row["source_location"].startswith(f"s3://{BUCKET}/")


def test_series_download_lists_pages_and_verifies_every_object(
    s3: tuple[S3TestServer, dict[str, str]],
    index_path: Path,
    cohort: Cohort,
    patient: str,
    sleeps: SleepRecorder,
    tmp_path: Path,
) -> None:
    server, _ = s3
    ct = cohort[patient][0]
    store = FileStore(tmp_path / "store")
    folder = _publish(_source(server, index_path, sleeps), store, ct)
    on_disk = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    assert on_disk == _expected_files(ct)
    assert server.requests[LISTING] == math.ceil(len(ct.files) / PAGE_SIZE) > 1


@pytest.mark.parametrize("kind", ["status", "drop_mid_body", "corrupt_body"])
def test_a_transient_object_fault_is_retried(
    s3: tuple[S3TestServer, dict[str, str]],
    index_path: Path,
    cohort: Cohort,
    patient: str,
    sleeps: SleepRecorder,
    tmp_path: Path,
    kind: str,
) -> None:
    server, folders = s3
    ct = cohort[patient][0]
    key = sorted(k for k in server.buckets[BUCKET] if k.startswith(folders[ct.series_uid]))[0]
    server.faults[key] = S3Fault(kind, times=1)  # type: ignore[arg-type]
    folder = _publish(_source(server, index_path, sleeps), FileStore(tmp_path / "store"), ct)
    assert {p.name for p in folder.iterdir()} == set(_expected_files(ct))
    assert server.requests[key] == 2


def test_an_object_that_never_matches_its_etag_fails_cleanly(
    s3: tuple[S3TestServer, dict[str, str]],
    index_path: Path,
    cohort: Cohort,
    patient: str,
    sleeps: SleepRecorder,
    tmp_path: Path,
) -> None:
    server, folders = s3
    ct = cohort[patient][0]
    key = sorted(k for k in server.buckets[BUCKET] if k.startswith(folders[ct.series_uid]))[-1]
    server.faults[key] = S3Fault("corrupt_body", times=None)
    store = FileStore(tmp_path / "store")
    with pytest.raises(
        ChecksumMismatchError, match=rf"series {ct.series_uid}: object '{key}' has MD5"
    ):
        _publish(_source(server, index_path, sleeps), store, ct)
    _assert_nothing_published(store, ct)


def test_a_missing_object_fails_before_any_download(
    s3: tuple[S3TestServer, dict[str, str]],
    index_path: Path,
    cohort: Cohort,
    patient: str,
    sleeps: SleepRecorder,
    tmp_path: Path,
) -> None:
    server, folders = s3
    ct = cohort[patient][0]
    keys = sorted(k for k in server.buckets[BUCKET] if k.startswith(folders[ct.series_uid]))
    server.faults[keys[0]] = S3Fault("unlisted", times=None)
    store = FileStore(tmp_path / "store")
    n = len(ct.files)
    with pytest.raises(
        InstanceCountMismatchError,
        match=rf"holds {n - 1} object\(s\) but the IDC index announces {n}",
    ):
        _publish(_source(server, index_path, sleeps), store, ct)
    assert all(server.requests[key] == 0 for key in keys)
    _assert_nothing_published(store, ct)


def test_a_listing_that_keeps_failing_exhausts_the_retries(
    s3: tuple[S3TestServer, dict[str, str]],
    index_path: Path,
    cohort: Cohort,
    patient: str,
    sleeps: SleepRecorder,
    tmp_path: Path,
) -> None:
    server, folders = s3
    ct = cohort[patient][0]
    server.faults[LISTING] = S3Fault("status", status=503, times=None)
    store = FileStore(tmp_path / "store")
    with pytest.raises(RetriesExhaustedError, match=rf"prefix={folders[ct.series_uid]}.*HTTP 503"):
        _publish(_source(server, index_path, sleeps), store, ct)
    assert server.requests[LISTING] == 3
    _assert_nothing_published(store, ct)


def test_a_series_of_another_patient_is_refused(
    s3: tuple[S3TestServer, dict[str, str]],
    index_path: Path,
    cohort: Cohort,
    patient: str,
    other_patient: str,
    sleeps: SleepRecorder,
    tmp_path: Path,
) -> None:
    server, _ = s3
    ct = cohort[patient][0]
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(
        SeriesMismatchError,
        match=rf"under patient\(s\) \['{patient}'\].*not patient '{other_patient}'",
    ):
        _source(server, index_path, sleeps).fetch_series(other_patient, ct.series_uid, dest, print)
    assert sum(server.requests.values()) == 0
    assert list(dest.iterdir()) == []


def test_listing_parser_refuses_what_is_not_a_bucket_listing(
    s3: tuple[S3TestServer, dict[str, str]], sleeps: SleepRecorder
) -> None:
    server, _ = s3
    http = HttpClient(retry=RetryPolicy(attempts=1), sleep=sleeps)
    server.faults[LISTING] = S3Fault("not_xml", times=1)
    with pytest.raises(
        S3ListingError, match=rf"{BUCKET}/\?list-type=2&prefix=x%2F: listing is not XML"
    ):
        list_objects(http, server.endpoint, BUCKET, "x/")
    assert list_objects(http, server.endpoint, BUCKET, "no-such-prefix/") == []


def test_only_single_part_etags_are_treated_as_md5() -> None:
    digest = hashlib.md5(b"x").hexdigest()
    assert S3Object("k", 1, digest).md5 == digest
    assert S3Object("k", 1, digest.upper()).md5 == digest
    assert S3Object("k", 1, f"{digest}-3").md5 is None
