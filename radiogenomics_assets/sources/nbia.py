"""A client for TCIA's NBIA REST API (v4): list series, download one series, verify it.

The API's quirks, as recorded from the server source (``shared/data/tcia-nbia-api/API_NOTES.md``):
an empty result is HTTP 200 with an empty body (not ``[]``); a null field is left out of its
JSON object rather than sent as ``null``; ``getImage`` returns a zip whose first entry is a
``LICENSE`` file and, with ``IncludeMD5=yes``, a ``md5hashes.csv``; the collection is spelled
``NSCLC Radiogenomics``.

The common client (``tcia_utils.downloadSeries``) sends requests without a timeout or retry and
treats any folder already on disk as a finished series, so one dropped connection leaves a
partial series that is never fetched again. Here every request has a timeout and bounded
retries (:mod:`radiogenomics_assets.sources.http`), and a series is complete only once every
instance is verified (:mod:`radiogenomics_assets.sources.instances`); publishing the folder
atomically is the caller's last step.

Which failures are retried:

* transport failures (connection dropped mid-body, timeouts, 5xx, 429) inside the HTTP layer,
  up to ``RetryPolicy.attempts`` per request;
* a corrupt or truncated zip and an MD5 mismatch by downloading the whole series again, up to
  ``series_attempts`` times: both can come from a transfer damaged on the way;
* never: an empty body (the archive has nothing for the UID), a count mismatch, a foreign or
  duplicate instance, a file that is not DICOM. Asking again gets the same answer, so these fail
  at once with their own exception.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radiogenomics_assets.ids import validate_uid
from radiogenomics_assets.sources.base import LogFn, SourceError
from radiogenomics_assets.sources.http import HttpClient
from radiogenomics_assets.sources.instances import (
    ChecksumMismatchError,
    CorruptArchiveError,
    EmptyArchiveError,
    SeriesAssembler,
    clear_directory,
)
from radiogenomics_assets.sources.nbia_zip import extract_series_zip
from radiogenomics_assets.sources.progress import SeriesProgress

#: TCIA's public, anonymous v4 endpoint (``tcia_utils`` uses the ``nbia.`` host name for the
#: same service); override it for a mirror or a test server.
DEFAULT_NBIA_BASE_URL = "https://services.cancerimagingarchive.net/nbia-api/services/v4"
#: The collection as NBIA spells it: a space, no hyphen.
NSCLC_RADIOGENOMICS = "NSCLC Radiogenomics"

#: Keys of a ``getSeries`` row in the v4 server's column list; absent keys come back as None.
SERIES_FIELDS: tuple[str, ...] = (
    "SeriesInstanceUID",
    "StudyInstanceUID",
    "Modality",
    "ProtocolName",
    "SeriesDate",
    "SeriesDescription",
    "BodyPartExamined",
    "SeriesNumber",
    "AnnotationsFlag",
    "Collection",
    "Site",
    "PatientID",
    "PatientSex",
    "PatientAge",
    "AdmittingDiagnosisDescription",
    "Manufacturer",
    "ManufacturerModelName",
    "SoftwareVersions",
    "ImageCount",
    "MaxSubmissionTimestamp",
    "LicenseName",
    "LicenseURI",
    "DataDescriptionURI",
    "FileSize",
    "ReleasedStatus",
    "DateReleased",
    "StudyDesc",
    "StudyDate",
    "ThirdPartyAnalysis",
    "Authorized",
)


class NbiaResponseError(SourceError):
    """An NBIA answer is not what the API documents (not JSON, not a list of objects)."""


@dataclass(frozen=True)
class SeriesDownload:
    """A verified series: its folder, instance count and bytes on disk, and the zip member each
    file was, by its name in the folder."""

    series_uid: str
    directory: Path
    instances: int
    bytes: int
    members: dict[str, str] = field(default_factory=dict)


class NbiaClient:
    """NBIA v4 ``getSeries`` and ``getImage`` with verification.

    Args:
        base_url: up to and including ``/services/v4`` (no trailing endpoint).
        http: the HTTP layer (timeouts, retries); a default one is made if omitted.
        series_attempts: whole-series downloads tried when the zip is corrupt or fails MD5.
        log: receives retry and progress lines.
        progress_interval_s: least seconds between two progress lines of a series.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_NBIA_BASE_URL,
        *,
        http: HttpClient | None = None,
        series_attempts: int = 2,
        log: LogFn | None = None,
        progress_interval_s: float = 5.0,
    ) -> None:
        if series_attempts < 1:
            raise ValueError(f"series_attempts must be >= 1, got {series_attempts}")
        self.base_url = base_url.rstrip("/")
        self._log = log or (lambda _line: None)
        self.http = http or HttpClient(log=self._log)
        self.series_attempts = series_attempts
        self.progress_interval_s = progress_interval_s

    def endpoint(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    def get_series(
        self,
        collection: str | None = None,
        *,
        patient_id: str | None = None,
        modality: str | None = None,
        series_uid: str | None = None,
        log: LogFn | None = None,
    ) -> list[dict[str, Any]]:
        """Rows of ``getSeries`` for the given filters; every row has all :data:`SERIES_FIELDS`.

        An empty body (NBIA's way of saying "no rows") gives ``[]``.

        Raises:
            ValueError: no filter given (that would list the whole archive).
            NbiaResponseError: the body is not a JSON list of objects.
            HttpStatusError, RetriesExhaustedError: from the HTTP layer.
        """
        params = {
            key: value
            for key, value in (
                ("Collection", collection),
                ("PatientID", patient_id),
                ("Modality", modality),
                ("SeriesInstanceUID", series_uid),
            )
            if value is not None
        }
        if not params:
            raise ValueError("get_series needs at least one of collection, patient_id, ...")
        params["format"] = "json"
        url = self.endpoint("getSeries")
        response = self.http.get(url, params, log=log)
        return parse_series_rows(response.content, url=response.url or url)

    def download_series(
        self,
        series_uid: str,
        dest_dir: Path,
        *,
        expected_count: int,
        md5: bool = True,
        patient_id: str = "?",
        log: LogFn | None = None,
        scratch_dir: Path | None = None,
    ) -> SeriesDownload:
        """Download one series into the empty folder ``dest_dir`` and verify it.

        The zip is streamed to a hidden file in ``scratch_dir`` (default: ``dest_dir`` itself,
        so a killed process leaves it only inside the caller's unpublished staging folder) and
        deleted before returning; it is never held in memory. On any failure ``dest_dir`` is
        emptied before the exception leaves, so the caller can discard or reuse it.

        Raises:
            ValueError: ``dest_dir`` is not an empty folder, or ``expected_count`` < 1.
            InvalidUidError: ``series_uid`` is not a DICOM UID.
            EmptyArchiveError: ``getImage`` answered with an empty body.
            CorruptArchiveError, ChecksumMismatchError: still failing after ``series_attempts``.
            InstanceCountMismatchError, DicomValidationError (subclasses: not DICOM,
            foreign or duplicate instance): the series is wrong as served; not retried.
            HttpStatusError, RetriesExhaustedError: from the HTTP layer.
        """
        validate_uid(series_uid, what="SeriesInstanceUID")
        dest_dir = Path(dest_dir)
        if not dest_dir.is_dir() or any(dest_dir.iterdir()):
            raise ValueError(f"download_series needs an empty folder, got {dest_dir}")
        if expected_count < 1:
            raise ValueError(f"series {series_uid}: expected_count must be >= 1")
        log = log or self._log
        attempt = 1
        while True:
            try:
                return self._download_once(
                    series_uid, dest_dir, expected_count, md5, patient_id, log, scratch_dir
                )
            except (CorruptArchiveError, ChecksumMismatchError) as error:
                clear_directory(dest_dir)
                if attempt >= self.series_attempts:
                    raise
                attempt += 1
                log(
                    f"{error}; downloading series {series_uid} again "
                    f"(attempt {attempt}/{self.series_attempts})"
                )
            except BaseException:
                clear_directory(dest_dir)
                raise

    def _download_once(
        self,
        series_uid: str,
        dest_dir: Path,
        expected_count: int,
        md5: bool,
        patient_id: str,
        log: LogFn,
        scratch_dir: Path | None,
    ) -> SeriesDownload:
        progress = SeriesProgress(
            log,
            patient_id=patient_id,
            series_uid=series_uid,
            instances_total=expected_count,
            interval_s=self.progress_interval_s,
        )
        scratch = Path(scratch_dir) if scratch_dir is not None else dest_dir
        zip_path = scratch / f".getImage-{uuid.uuid4().hex}-{series_uid}.zip"
        params = {"SeriesInstanceUID": series_uid}
        if md5:
            params["IncludeMD5"] = "yes"
        try:
            downloaded = self.http.download_file(
                self.endpoint("getImage"),
                zip_path,
                params=params,
                progress=progress.on_bytes,
                log=log,
            )
            if downloaded.bytes == 0:
                raise EmptyArchiveError(
                    f"series {series_uid} (patient {patient_id}): getImage returned an empty "
                    "body; the archive has no files for this UID (unknown, or not public)",
                    series_uid=series_uid,
                )
            assembler = SeriesAssembler(series_uid, dest_dir)
            extract_series_zip(
                zip_path, assembler, require_md5=md5, on_instance=progress.on_instance
            )
            assembler.check_count(expected_count, source="the getImage zip")
        finally:
            zip_path.unlink(missing_ok=True)
        progress.finish()
        return SeriesDownload(
            series_uid, dest_dir, assembler.count, assembler.bytes, dict(assembler.origins)
        )


def parse_series_rows(body: bytes, *, url: str) -> list[dict[str, Any]]:
    """Parse a ``getSeries`` body: empty means no rows; absent keys become None.

    Raises:
        NbiaResponseError: naming ``url``, when the body is not a JSON list of objects.
    """
    if not body.strip():
        return []
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise NbiaResponseError(
            f"{url} did not return JSON ({len(body)} bytes, starting {body[:60]!r}): {error}"
        ) from error
    if not isinstance(payload, list) or not all(isinstance(row, dict) for row in payload):
        raise NbiaResponseError(
            f"{url} returned {type(payload).__name__}, expected a JSON list of objects"
        )
    rows: list[dict[str, Any]] = []
    for row in payload:
        normalized = {field: row.get(field) for field in SERIES_FIELDS}
        # Older servers and docs call the DOI field CollectionURI.
        if normalized["DataDescriptionURI"] is None and "CollectionURI" in row:
            normalized["DataDescriptionURI"] = row["CollectionURI"]
        normalized.update({key: value for key, value in row.items() if key not in normalized})
        rows.append(normalized)
    return rows
