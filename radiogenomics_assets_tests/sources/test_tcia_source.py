"""TciaSource against the loopback NBIA server: manifest, SEG-first, files by URL."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
from pathlib import Path

import pandas as pd
import pytest

from radiogenomics_assets.sources.base import MANIFEST_COLUMNS, SourceError
from radiogenomics_assets.sources.demo import DemoCohort
from radiogenomics_assets.sources.http import HttpClient, RetryPolicy
from radiogenomics_assets.sources.nbia import NbiaResponseError, parse_series_rows
from radiogenomics_assets.sources.remote_files import CorruptDownloadError
from radiogenomics_assets.sources.tcia import SeriesMismatchError, TciaSource
from radiogenomics_assets_tests.sources.clients import SleepRecorder
from radiogenomics_assets_tests.sources.demo_series import Cohort
from radiogenomics_assets_tests.sources.nbia_server import Fault, NbiaTestServer


def _source(nbia: NbiaTestServer, sleeps: SleepRecorder, **kwargs: object) -> TciaSource:
    http = HttpClient(
        timeout_s=(2.0, 5.0),
        retry=RetryPolicy(attempts=3, backoff_initial_s=0.01),
        sleep=sleeps,
    )
    return TciaSource(
        base_url=nbia.base_url,
        clinical_url=f"{nbia.files_url}/labels.csv",
        rnaseq_url=f"{nbia.files_url}/rnaseq.txt.gz",
        http=http,
        **kwargs,
    )


def test_manifest_lists_ct_and_seg_with_unknown_seg_references(
    nbia: NbiaTestServer, cohort: Cohort, patient: str, sleeps: SleepRecorder
) -> None:
    pet = dataclasses.replace(cohort[patient][0], series_uid="1.2.3.4", modality="PT")
    nbia.add(pet)
    log: list[str] = []
    manifest = _source(nbia, sleeps).imaging_manifest(log.append).frame
    assert list(manifest.columns) == list(MANIFEST_COLUMNS)
    expected = {s.series_uid: s for pair in cohort.values() for s in pair}
    assert set(manifest["series_uid"]) == set(expected)
    for row in manifest.itertuples():
        served = expected[row.series_uid]
        assert (row.patient_id, row.modality, row.study_uid) == (
            served.patient_id,
            served.modality,
            served.study_uid,
        )
        assert row.instance_count == len(served.files)
        assert row.size_bytes == served.size_bytes
        assert pd.isna(row.referenced_series_uid)
        assert row.source_location.endswith(f"getImage?SeriesInstanceUID={row.series_uid}")
    n = len(cohort)
    assert f"{n} patients, CT {n}, SEG {n}" in log[-1]


def test_patient_series_asks_for_one_patient_only(
    nbia: NbiaTestServer, other_patient: str, sleeps: SleepRecorder
) -> None:
    source = _source(nbia, sleeps)
    rows = source.patient_series(other_patient, lambda _line: None)
    manifest = source.imaging_manifest(lambda _line: None).frame
    expected = manifest[manifest["patient_id"] == other_patient].reset_index(drop=True)
    assert len(expected) == 2
    pd.testing.assert_frame_equal(rows, expected)
    assert nbia.requests[("getSeries", other_patient)] == 1


def test_manifest_of_an_unknown_collection_fails_loudly(
    nbia: NbiaTestServer, sleeps: SleepRecorder
) -> None:
    source = _source(nbia, sleeps, collection="NSCLC-Radiogenomics")
    with pytest.raises(SourceError, match=r"no CT or SEG series .* 'NSCLC Radiogenomics'"):
        source.imaging_manifest(lambda _line: None)


def test_manifest_refuses_an_unsafe_patient_id_and_keeps_the_rest(
    nbia: NbiaTestServer, cohort: Cohort, patient: str, sleeps: SleepRecorder
) -> None:
    good = _source(nbia, sleeps).imaging_manifest(lambda _line: None)
    bad = dataclasses.replace(cohort[patient][0], series_uid="1.2.3.5", patient_id="../etc")
    nbia.add(bad)
    listed = _source(nbia, sleeps).imaging_manifest(lambda _line: None)
    pd.testing.assert_frame_equal(listed.frame, good.frame)
    (refused,) = listed.rejections
    assert (refused.kind, refused.raw_value, refused.patient_id) == ("dicom_series", "../etc", None)
    assert refused.source_file.endswith("/getSeries")
    assert refused.location.endswith("(series '1.2.3.5')")
    assert "invalid patient id '../etc' in getSeries row of series 1.2.3.5" in refused.reason


def test_fetch_series_checks_the_patient_before_downloading(
    nbia: NbiaTestServer,
    cohort: Cohort,
    patient: str,
    other_patient: str,
    sleeps: SleepRecorder,
    tmp_path: Path,
) -> None:
    ct = cohort[patient][0]
    with pytest.raises(
        SeriesMismatchError, match=rf"belongs to patient '{patient}'.*not patient '{other_patient}'"
    ):
        _source(nbia, sleeps).fetch_series(
            other_patient, ct.series_uid, tmp_path, lambda _line: None
        )
    assert nbia.image_requests(ct.series_uid) == 0
    assert list(tmp_path.iterdir()) == []


CSV = b"Case ID,Recurrence,CT Date\nR01-005,yes,3/8/1991\nAMC-001,no,8/10/1994\n"


def test_files_by_url_are_checked_and_published_with_their_sha256(
    nbia: NbiaTestServer, small_cohort: DemoCohort, sleeps: SleepRecorder, tmp_path: Path
) -> None:
    labels = small_cohort.clinical_csv.read_bytes()
    matrix = small_cohort.rnaseq_matrix.read_bytes()
    nbia.files.update({"labels.csv": labels, "rnaseq.txt.gz": matrix})
    nbia.file_faults["rnaseq.txt.gz"] = Fault("drop_mid_body", times=1)
    source = _source(nbia, sleeps)
    log: list[str] = []
    # What a download killed mid-way leaves behind (the scratch name and the HTTP temp name).
    (tmp_path / ".fetch-0a1b-labels.csv").write_bytes(b"half")
    (tmp_path / ".download-9f-.fetch-0a1b-labels.csv").write_bytes(b"half")
    source.fetch_clinical_labels(tmp_path / "labels.csv", log.append)
    source.fetch_rnaseq_matrix(tmp_path / "rnaseq.txt.gz", log.append)
    assert (tmp_path / "labels.csv").read_bytes() == labels
    assert (tmp_path / "rnaseq.txt.gz").read_bytes() == matrix
    assert f"sha256 {hashlib.sha256(matrix).hexdigest()}" in log[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.csv", "rnaseq.txt.gz"]


@pytest.mark.parametrize(
    ("name", "body", "fault", "message"),
    [
        (
            "rnaseq.txt.gz",
            gzip.compress(b"gene\tx\n" * 5000),
            "truncated_zip",
            "damaged or truncated",
        ),
        ("labels.csv", b"<!DOCTYPE html><html>not found</html>", None, "does not start with a CSV"),
        ("labels.csv", CSV, "empty_body", "empty body"),
    ],
    # Named, not derived from the bodies: the gzip header's timestamp would give the first one
    # another id in each pytest-xdist worker that collected it in another second.
    ids=["truncated_gzip", "html_page", "empty_body"],
)
def test_a_damaged_file_by_url_is_never_published(
    nbia: NbiaTestServer,
    sleeps: SleepRecorder,
    tmp_path: Path,
    name: str,
    body: bytes,
    fault: str | None,
    message: str,
) -> None:
    nbia.files[name] = body
    if fault is not None:
        nbia.file_faults[name] = Fault(fault, times=None)  # type: ignore[arg-type]
    source = _source(nbia, sleeps)
    fetch = source.fetch_rnaseq_matrix if name.endswith(".gz") else source.fetch_clinical_labels
    with pytest.raises(CorruptDownloadError, match=rf"files/{name}: .*{message}"):
        fetch(tmp_path / name, lambda _line: None)
    assert list(tmp_path.iterdir()) == []
    assert nbia.requests[("file", name)] == 2


def test_get_series_reads_empty_bodies_and_absent_fields(
    nbia: NbiaTestServer, cohort: Cohort, other_patient: str, sleeps: SleepRecorder
) -> None:
    client = _source(nbia, sleeps).client
    assert client.get_series("NSCLC Radiogenomics", patient_id="R01-999") == []
    rows = client.get_series(series_uid=cohort[other_patient][1].series_uid)
    assert len(rows) == 1
    assert rows[0]["ProtocolName"] is None  # left out by the server, as NBIA does with nulls
    assert rows[0]["Modality"] == "SEG"
    assert rows[0]["ImageCount"] == 1


def test_get_series_refuses_a_body_that_is_not_json() -> None:
    with pytest.raises(NbiaResponseError, match=r"http://x/getSeries did not return JSON"):
        parse_series_rows(b"<html>maintenance</html>", url="http://x/getSeries")
    with pytest.raises(NbiaResponseError, match="returned dict, expected a JSON list"):
        parse_series_rows(b'{"error": 1}', url="http://x/getSeries")
    assert parse_series_rows(b"  \n", url="http://x/getSeries") == []
