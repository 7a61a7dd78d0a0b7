"""Series downloads from the loopback NBIA server, one test per fault.

Each test ends in one of two states, checked the way the raw asset will publish a series
(``FileStore.atomic_directory``): a folder of verified ``<SOPInstanceUID>.dcm`` files equal to what
the server holds, or a clean error naming the series with no folder under the final name and no
scratch file left behind.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pydicom
import pytest

from radiogenomics_assets.dicom.errors import MixedSeriesError, NotDicomError
from radiogenomics_assets.sources.http import HttpStatusError, RetriesExhaustedError
from radiogenomics_assets.sources.instances import (
    ChecksumMismatchError,
    CorruptArchiveError,
    EmptyArchiveError,
    InstanceCountMismatchError,
)
from radiogenomics_assets.sources.nbia import NbiaClient, SeriesDownload
from radiogenomics_assets.store.files import FileStore
from radiogenomics_assets_tests.sources.clients import SleepRecorder, make_client
from radiogenomics_assets_tests.sources.demo_series import Cohort, ServedSeries
from radiogenomics_assets_tests.sources.nbia_server import Fault, NbiaTestServer


def _publish(
    client: NbiaClient, store: FileStore, series: ServedSeries, **kwargs: object
) -> SeriesDownload:
    with store.atomic_directory("ct", series.patient_id, series.series_uid) as temp:
        return client.download_series(
            series.series_uid,
            temp,
            expected_count=len(series.files),
            patient_id=series.patient_id,
            **kwargs,
        )


def _assert_complete(store: FileStore, series: ServedSeries) -> None:
    folder = store.path("ct", series.patient_id, series.series_uid)
    served = {}
    for _, data in series.files:
        sop = pydicom.dcmread(pydicom.filebase.DicomBytesIO(data)).SOPInstanceUID
        served[f"{sop}.dcm"] = hashlib.sha256(data).hexdigest()
    on_disk = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    assert on_disk == served
    assert _leftovers(store, series) == []


def _leftovers(store: FileStore, series: ServedSeries) -> list[str]:
    """Anything in the patient's folder besides the published series (scratch zips, partials)."""
    parent = store.path("ct", series.patient_id)
    return sorted(p.name for p in parent.iterdir() if p.name != series.series_uid)


def _assert_nothing_published(store: FileStore, series: ServedSeries) -> None:
    assert not store.path("ct", series.patient_id, series.series_uid).exists()
    assert _leftovers(store, series) == []


@pytest.fixture
def ct(cohort: Cohort, patient: str) -> ServedSeries:
    """A demo CT series (36 slices of 192x192)."""
    return cohort[patient][0]


def test_normal_download_is_verified_and_complete(
    nbia: NbiaTestServer, ct: ServedSeries, sleeps: SleepRecorder, tmp_path: Path
) -> None:
    log: list[str] = []
    store = FileStore(tmp_path)
    result = _publish(make_client(nbia.base_url, sleeps, log=log), store, ct)
    assert result.instances == len(ct.files)
    assert result.bytes == ct.size_bytes
    _assert_complete(store, ct)
    assert nbia.image_requests(ct.series_uid) == 1
    assert sleeps.delays == []
    final = [line for line in log if line.endswith("(verified)")]
    assert len(final) == 1
    n = len(ct.files)
    assert f"patient {ct.patient_id} series {ct.series_uid}: {n}/{n} instances" in final[0]
    assert " MB, " in final[0] and final[0].count("MB/s") == 1


def test_download_without_md5_accepts_a_zip_without_hashes(
    nbia: NbiaTestServer, ct: ServedSeries, sleeps: SleepRecorder, tmp_path: Path
) -> None:
    store = FileStore(tmp_path)
    _publish(make_client(nbia.base_url, sleeps), store, ct, md5=False)
    _assert_complete(store, ct)


def test_connection_dropped_mid_body_is_retried_from_scratch(
    nbia: NbiaTestServer, ct: ServedSeries, sleeps: SleepRecorder, tmp_path: Path
) -> None:
    nbia.faults[ct.series_uid] = Fault("drop_mid_body", times=1)
    store = FileStore(tmp_path)
    _publish(make_client(nbia.base_url, sleeps), store, ct)
    _assert_complete(store, ct)
    assert nbia.image_requests(ct.series_uid) == 2
    assert len(sleeps.delays) == 1


def test_connection_dropped_every_time_fails_cleanly(
    nbia: NbiaTestServer, ct: ServedSeries, sleeps: SleepRecorder, tmp_path: Path
) -> None:
    nbia.faults[ct.series_uid] = Fault("drop_mid_body", times=None)
    store = FileStore(tmp_path)
    with pytest.raises(RetriesExhaustedError, match=rf"{ct.series_uid}.*body interrupted"):
        _publish(make_client(nbia.base_url, sleeps, attempts=3), store, ct)
    assert nbia.image_requests(ct.series_uid) == 3
    _assert_nothing_published(store, ct)


def test_http_500_then_success(
    nbia: NbiaTestServer, ct: ServedSeries, sleeps: SleepRecorder, tmp_path: Path
) -> None:
    nbia.faults[ct.series_uid] = Fault("status", status=500, times=1)
    store = FileStore(tmp_path)
    _publish(make_client(nbia.base_url, sleeps), store, ct)
    _assert_complete(store, ct)
    assert nbia.image_requests(ct.series_uid) == 2


def test_http_503_forever_exhausts_the_retry_budget(
    nbia: NbiaTestServer, ct: ServedSeries, sleeps: SleepRecorder, tmp_path: Path
) -> None:
    nbia.faults[ct.series_uid] = Fault("status", status=503, times=None)
    store = FileStore(tmp_path)
    with pytest.raises(
        RetriesExhaustedError, match=rf"getImage.*{ct.series_uid}.*4 time.*HTTP 503"
    ):
        _publish(make_client(nbia.base_url, sleeps, attempts=4), store, ct)
    assert nbia.image_requests(ct.series_uid) == 4
    # Exponential backoff with jitter in [0.5, 1] of 0.5, 1, 2 s.
    assert len(sleeps.delays) == 3
    for number, delay in enumerate(sleeps.delays, start=1):
        ceiling = 0.5 * 2 ** (number - 1)
        assert ceiling / 2 <= delay <= ceiling
    _assert_nothing_published(store, ct)


def test_http_429_honours_retry_after(
    nbia: NbiaTestServer, ct: ServedSeries, sleeps: SleepRecorder, tmp_path: Path
) -> None:
    nbia.faults[ct.series_uid] = Fault("status", status=429, retry_after="7", times=1)
    store = FileStore(tmp_path)
    _publish(make_client(nbia.base_url, sleeps), store, ct)
    _assert_complete(store, ct)
    assert sleeps.delays == [7.0]


def test_a_stalled_response_hits_the_read_timeout_and_is_retried(
    nbia: NbiaTestServer, ct: ServedSeries, sleeps: SleepRecorder, tmp_path: Path
) -> None:
    nbia.faults[ct.series_uid] = Fault("stall", stall_s=1.5, times=1)
    store = FileStore(tmp_path)
    _publish(make_client(nbia.base_url, sleeps, read_timeout_s=0.3), store, ct)
    _assert_complete(store, ct)
    assert nbia.image_requests(ct.series_uid) == 2


def test_truncated_zip_is_downloaded_again_once(
    nbia: NbiaTestServer, ct: ServedSeries, sleeps: SleepRecorder, tmp_path: Path
) -> None:
    nbia.faults[ct.series_uid] = Fault("truncated_zip", times=1)
    store = FileStore(tmp_path)
    _publish(make_client(nbia.base_url, sleeps, series_attempts=2), store, ct)
    _assert_complete(store, ct)
    assert nbia.image_requests(ct.series_uid) == 2


def test_truncated_zip_every_time_fails_cleanly(
    nbia: NbiaTestServer, ct: ServedSeries, sleeps: SleepRecorder, tmp_path: Path
) -> None:
    nbia.faults[ct.series_uid] = Fault("truncated_zip", times=None)
    store = FileStore(tmp_path)
    with pytest.raises(
        CorruptArchiveError, match=rf"series {ct.series_uid}: .*corrupt or truncated"
    ):
        _publish(make_client(nbia.base_url, sleeps, series_attempts=2), store, ct)
    assert nbia.image_requests(ct.series_uid) == 2
    _assert_nothing_published(store, ct)


def test_md5_mismatch_fails_cleanly_after_one_more_try(
    nbia: NbiaTestServer, ct: ServedSeries, sleeps: SleepRecorder, tmp_path: Path
) -> None:
    nbia.faults[ct.series_uid] = Fault("wrong_md5", times=None)
    store = FileStore(tmp_path)
    with pytest.raises(
        ChecksumMismatchError, match=rf"series {ct.series_uid}: zip member '00000001.dcm' has MD5"
    ):
        _publish(make_client(nbia.base_url, sleeps, series_attempts=2), store, ct)
    assert nbia.image_requests(ct.series_uid) == 2
    _assert_nothing_published(store, ct)


def test_fewer_instances_than_announced_is_not_retried(
    nbia: NbiaTestServer, ct: ServedSeries, sleeps: SleepRecorder, tmp_path: Path
) -> None:
    nbia.faults[ct.series_uid] = Fault("missing_instances", times=None)
    store = FileStore(tmp_path)
    expected = len(ct.files)
    with pytest.raises(
        InstanceCountMismatchError,
        match=rf"series {ct.series_uid}: .* holds {expected - 1} .* announced {expected}",
    ):
        _publish(make_client(nbia.base_url, sleeps), store, ct)
    assert nbia.image_requests(ct.series_uid) == 1
    _assert_nothing_published(store, ct)


def test_empty_body_from_get_image_is_a_clean_error(
    nbia: NbiaTestServer, ct: ServedSeries, sleeps: SleepRecorder, tmp_path: Path
) -> None:
    nbia.faults[ct.series_uid] = Fault("empty_body", times=None)
    store = FileStore(tmp_path)
    with pytest.raises(EmptyArchiveError, match=rf"series {ct.series_uid} .*empty body"):
        _publish(make_client(nbia.base_url, sleeps), store, ct)
    assert nbia.image_requests(ct.series_uid) == 1
    _assert_nothing_published(store, ct)


def test_an_instance_of_another_series_is_refused(
    nbia: NbiaTestServer,
    cohort: Cohort,
    ct: ServedSeries,
    other_patient: str,
    sleeps: SleepRecorder,
    tmp_path: Path,
) -> None:
    other = cohort[other_patient][0]
    nbia.faults[ct.series_uid] = Fault("foreign_instance", foreign_file=other.files[0][1])
    store = FileStore(tmp_path)
    with pytest.raises(MixedSeriesError, match=rf"belongs to series '{other.series_uid}'"):
        _publish(make_client(nbia.base_url, sleeps), store, ct)
    _assert_nothing_published(store, ct)


def test_a_member_that_is_not_dicom_is_refused(
    nbia: NbiaTestServer, ct: ServedSeries, sleeps: SleepRecorder, tmp_path: Path
) -> None:
    nbia.faults[ct.series_uid] = Fault("not_dicom")
    store = FileStore(tmp_path)
    junk = f"{len(ct.files) + 1:08d}.dcm"
    with pytest.raises(NotDicomError, match=rf"'{junk}' of series {ct.series_uid}"):
        _publish(make_client(nbia.base_url, sleeps), store, ct)
    _assert_nothing_published(store, ct)


def test_an_interrupted_series_is_restarted_not_counted_as_done(
    nbia: NbiaTestServer, ct: ServedSeries, sleeps: SleepRecorder, tmp_path: Path
) -> None:
    store = FileStore(tmp_path)
    nbia.faults[ct.series_uid] = Fault("drop_mid_body", times=None)
    with pytest.raises(RetriesExhaustedError):
        _publish(make_client(nbia.base_url, sleeps, attempts=2), store, ct)
    _assert_nothing_published(store, ct)
    del nbia.faults[ct.series_uid]
    _publish(make_client(nbia.base_url, sleeps), store, ct)
    _assert_complete(store, ct)


def test_unknown_series_uid_and_bad_parameters(
    nbia: NbiaTestServer, sleeps: SleepRecorder, tmp_path: Path
) -> None:
    client = make_client(nbia.base_url, sleeps)
    with pytest.raises(HttpStatusError, match="HTTP 400: Invalid query parameter: 'Bogus'"):
        client.http.get(client.endpoint("getSeries"), {"Bogus": "1"})
    assert sleeps.delays == []
    folder = tmp_path / "series"
    folder.mkdir()
    with pytest.raises(EmptyArchiveError, match=r"series 1\.2\.3 \(patient \?\)"):
        client.download_series("1.2.3", folder, expected_count=1)
    assert list(folder.iterdir()) == []


def test_a_failed_download_empties_the_folder_it_was_given(
    nbia: NbiaTestServer, ct: ServedSeries, sleeps: SleepRecorder, tmp_path: Path
) -> None:
    # The junk member comes after the real instances, so every slice was already in place.
    nbia.faults[ct.series_uid] = Fault("not_dicom")
    folder = tmp_path / "given"
    folder.mkdir()
    client = make_client(nbia.base_url, sleeps)
    with pytest.raises(NotDicomError):
        client.download_series(ct.series_uid, folder, expected_count=len(ct.files))
    assert list(folder.iterdir()) == []
    assert list(tmp_path.iterdir()) == [folder]


def test_download_needs_an_empty_folder(
    nbia: NbiaTestServer, ct: ServedSeries, sleeps: SleepRecorder, tmp_path: Path
) -> None:
    (tmp_path / "keep.txt").write_text("user file")
    client = make_client(nbia.base_url, sleeps)
    with pytest.raises(ValueError, match="needs an empty folder"):
        client.download_series(ct.series_uid, tmp_path, expected_count=len(ct.files))
    assert (tmp_path / "keep.txt").read_text() == "user file"
    assert nbia.image_requests(ct.series_uid) == 0
