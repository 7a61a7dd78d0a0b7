"""The ``idc`` source: NSCLC-Radiogenomics from NCI's Imaging Data Commons.

The manifest comes from the series index packaged by ``idc-index-data`` and needs no network
(:mod:`radiogenomics_assets.sources.idc_index`). Downloads read IDC's public bucket directly over
HTTPS (:mod:`radiogenomics_assets.sources.s3`): list ``<crdc_series_uuid>/``, fetch each object
with the project's HTTP layer (timeouts, retries, atomic files), check its size and MD5 against
the listing, then verify the series as a whole like an NBIA download. ``idc-index``'s own
downloader (s5cmd) is not used because the ``idc-index`` package pins ``duckdb<2``, which cannot
be installed beside this project's ``duckdb==2.0.0``.

Clinical labels and RNA-seq are not in IDC's buckets; they come from the same TCIA and GEO
URLs as the ``tcia`` source.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import ClassVar

import pandas as pd

from radiogenomics_assets.ids import validate_patient_id, validate_uid
from radiogenomics_assets.sources.base import MANIFEST_COLUMNS, DataSource, LogFn, Manifest
from radiogenomics_assets.sources.http import HttpClient, RetryPolicy
from radiogenomics_assets.sources.idc_index import (
    IDC_COLLECTION,
    idc_manifest,
    original_segmentations,
)
from radiogenomics_assets.sources.instances import (
    ChecksumMismatchError,
    InstanceCountMismatchError,
    SeriesAssembler,
    SeriesMismatchError,
    clear_directory,
)
from radiogenomics_assets.sources.progress import SeriesProgress
from radiogenomics_assets.sources.remote_files import (
    DEFAULT_CLINICAL_URL,
    DEFAULT_RNASEQ_URL,
    fetch_file,
)
from radiogenomics_assets.sources.s3 import DEFAULT_S3_ENDPOINT, S3Object, list_objects, object_url

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class IdcSource(DataSource):
    """NSCLC-Radiogenomics imaging from IDC (index offline, files from the public bucket).

    Args:
        collection: IDC collection id.
        index_path: the series index parquet (default: the one ``idc-index-data`` ships).
        s3_endpoint: bucket URL template with ``{bucket}``.
        clinical_url, rnaseq_url: the TCIA labels CSV and the GEO matrix.
        timeout_s, retry: per request, as in :class:`~radiogenomics_assets.sources.http.HttpClient`.
        object_attempts: downloads of one object tried when its size or MD5 disagrees with
            the listing.
        http: a ready HTTP layer (tests inject one).
    """

    name: ClassVar[str] = "idc"
    #: Downloads need the network; the manifest alone works offline.
    offline: ClassVar[bool] = False

    def __init__(
        self,
        *,
        collection: str = IDC_COLLECTION,
        index_path: Path | None = None,
        s3_endpoint: str = DEFAULT_S3_ENDPOINT,
        clinical_url: str = DEFAULT_CLINICAL_URL,
        rnaseq_url: str = DEFAULT_RNASEQ_URL,
        timeout_s: tuple[float, float] = (10.0, 120.0),
        retry: RetryPolicy | None = None,
        object_attempts: int = 2,
        http: HttpClient | None = None,
    ) -> None:
        if object_attempts < 1:
            raise ValueError(f"object_attempts must be >= 1, got {object_attempts}")
        self.collection = collection
        self.index_path = index_path
        self.s3_endpoint = s3_endpoint
        self.clinical_url = clinical_url
        self.rnaseq_url = rnaseq_url
        self.object_attempts = object_attempts
        self.http = http or HttpClient(timeout_s=timeout_s, retry=retry)
        self._index: pd.DataFrame | None = None
        self._index_lock = threading.Lock()

    def describe(self) -> dict[str, str]:
        return {
            **super().describe(),
            "collection": self.collection,
            "index": str(self.index_path or "idc-index-data (packaged)"),
            "s3_endpoint": self.s3_endpoint,
        }

    def series_index(self) -> pd.DataFrame:
        """Every CT and SEG series of the collection with IDC's columns (read once, cached)."""
        with self._index_lock:
            if self._index is None:
                self._index = idc_manifest(self.collection, index_path=self.index_path)
            return self._index

    def imaging_manifest(self, log: LogFn) -> Manifest:
        """CT series and the original SEG series (AI-derived SEGs left out), offline."""
        index = self.series_index()
        chosen = pd.concat(
            [index[index["modality"] == "CT"], original_segmentations(index)], ignore_index=True
        )
        log(
            f"IDC index for {self.collection!r}: {chosen['patient_id'].nunique()} patients, "
            f"CT {int((chosen['modality'] == 'CT').sum())}, original SEG "
            f"{int((chosen['modality'] == 'SEG').sum())} (AI-derived SEG left out: "
            f"{int(((index['modality'] == 'SEG') & index['analysis_result_id'].notna()).sum())})"
        )
        return Manifest(chosen.loc[:, list(MANIFEST_COLUMNS)])

    def patient_series(self, patient_id: str, log: LogFn) -> pd.DataFrame:
        validate_patient_id(patient_id, where="patient_series")
        manifest = self.imaging_manifest(lambda _line: None).frame
        return manifest[manifest["patient_id"] == patient_id].reset_index(drop=True)

    def clinical_origin(self) -> str:
        return self.clinical_url

    def rnaseq_origin(self) -> str:
        return self.rnaseq_url

    def fetch_clinical_labels(self, dest: Path, log: LogFn) -> None:
        fetch_file(self.http, self.clinical_url, dest, check="csv", log=log)

    def fetch_rnaseq_matrix(self, dest: Path, log: LogFn) -> None:
        check = "gzip" if self.rnaseq_url.endswith(".gz") else "none"
        fetch_file(self.http, self.rnaseq_url, dest, check=check, log=log)

    def fetch_series(self, patient_id: str, series_uid: str, dest_dir: Path, log: LogFn) -> None:
        """Download one series from IDC's bucket into the empty folder ``dest_dir``, verified.

        Raises:
            InvalidPatientIdError, InvalidUidError: unsafe identifiers.
            SeriesMismatchError: the index does not list the series under ``patient_id``.
            InstanceCountMismatchError: the bucket holds another number of objects than the
                index's instanceCount, or fewer instances verified.
            ChecksumMismatchError: an object's size or MD5 disagrees with the listing after
                ``object_attempts`` downloads.
            DicomValidationError (subclasses): bad content, from the verifier.
            HttpError (subclasses), S3ListingError: transport and listing failures.
        """
        validate_patient_id(patient_id, where="fetch_series")
        validate_uid(series_uid, what="SeriesInstanceUID")
        dest_dir = Path(dest_dir)
        if not dest_dir.is_dir() or any(dest_dir.iterdir()):
            raise ValueError(f"fetch_series needs an empty folder, got {dest_dir}")
        index = self.series_index()
        rows = index[index["series_uid"] == series_uid]
        if len(rows) != 1 or rows["patient_id"].iloc[0] != patient_id:
            owner = rows["patient_id"].tolist()
            raise SeriesMismatchError(
                f"the IDC index lists series {series_uid} under patient(s) {owner} of "
                f"{self.collection!r}, not patient {patient_id!r}"
            )
        row = rows.iloc[0]
        series_uuid, bucket = str(row["crdc_series_uuid"]), str(row["aws_bucket"])
        if not _UUID.fullmatch(series_uuid):
            raise SeriesMismatchError(f"series {series_uid}: bad crdc_series_uuid {series_uuid!r}")
        expected = int(row["instance_count"])
        location = f"s3://{bucket}/{series_uuid}/"
        try:
            self._fetch_objects(
                patient_id, series_uid, dest_dir, bucket, series_uuid, expected, location, log
            )
        except BaseException:
            clear_directory(dest_dir)
            raise

    def _fetch_objects(
        self,
        patient_id: str,
        series_uid: str,
        dest_dir: Path,
        bucket: str,
        series_uuid: str,
        expected: int,
        location: str,
        log: LogFn,
    ) -> None:
        objects = list_objects(self.http, self.s3_endpoint, bucket, f"{series_uuid}/", log=log)
        if len(objects) != expected:
            raise InstanceCountMismatchError(
                f"series {series_uid} (patient {patient_id}): {location} holds {len(objects)} "
                f"object(s) but the IDC index announces {expected} instance(s)",
                series_uid=series_uid,
            )
        progress = SeriesProgress(
            log, patient_id=patient_id, series_uid=series_uid, instances_total=expected
        )
        assembler = SeriesAssembler(series_uid, dest_dir)
        for number, item in enumerate(objects):
            incoming = dest_dir / f".incoming-{number}"
            self._fetch_object(bucket, item, incoming, series_uid, progress, log)
            assembler.add(incoming, origin=item.key)
            progress.on_instance()
        assembler.check_count(expected, source=location)
        progress.finish()

    def _fetch_object(
        self,
        bucket: str,
        item: S3Object,
        incoming: Path,
        series_uid: str,
        progress: SeriesProgress,
        log: LogFn,
    ) -> None:
        url = object_url(self.s3_endpoint, bucket, item.key)
        attempt = 1
        while True:
            downloaded = self.http.download_file(url, incoming, progress=progress.on_bytes, log=log)
            progress.end_transfer()
            problem = None
            if downloaded.bytes != item.size:
                problem = f"{downloaded.bytes} bytes, the listing says {item.size}"
            elif item.md5 is not None and downloaded.md5 != item.md5:
                problem = f"MD5 {downloaded.md5}, the listing's ETag says {item.md5}"
            if problem is None:
                return
            incoming.unlink(missing_ok=True)
            message = f"series {series_uid}: object {item.key!r} has {problem}"
            if attempt >= self.object_attempts:
                raise ChecksumMismatchError(message, series_uid=series_uid)
            attempt += 1
            log(f"{message}; downloading it again (attempt {attempt}/{self.object_attempts})")
