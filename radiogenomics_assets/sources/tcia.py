"""The ``tcia`` source: NSCLC-Radiogenomics imaging and labels from TCIA, RNA-seq from GEO.

The manifest is one ``getSeries`` call for the collection, keeping CT and SEG rows. A SEG's
``referenced_series_uid`` is NULL there: NBIA does not say which CT a SEG was drawn on, and the
answer is only known after the SEG is downloaded (its ReferencedSeriesSequence). The raw assets
therefore fetch the SEG first and then ask :meth:`TciaSource.fetch_series` for that one CT series,
not for all 727 CT series (about 91 GB).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from radiogenomics_assets.ids import (
    InvalidPatientIdError,
    InvalidUidError,
    validate_patient_id,
    validate_uid,
)
from radiogenomics_assets.sources.base import (
    MANIFEST_COLUMNS,
    DataSource,
    LogFn,
    Manifest,
    SeriesOrigins,
    SourceError,
)
from radiogenomics_assets.sources.http import HttpClient, RetryPolicy, url_with_params
from radiogenomics_assets.sources.instances import SeriesMismatchError
from radiogenomics_assets.sources.nbia import (
    DEFAULT_NBIA_BASE_URL,
    NSCLC_RADIOGENOMICS,
    NbiaClient,
    NbiaResponseError,
)
from radiogenomics_assets.sources.rejections import Rejection
from radiogenomics_assets.sources.remote_files import (
    DEFAULT_CLINICAL_URL,
    DEFAULT_RNASEQ_URL,
    fetch_file,
)

IMAGING_MODALITIES = ("CT", "SEG")


def _count(value: Any, *, series_uid: str, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise NbiaResponseError(f"getSeries row of series {series_uid}: {field} is {value!r}")
    try:
        number = int(value)
    except ValueError as error:
        raise NbiaResponseError(
            f"getSeries row of series {series_uid}: {field} {value!r} is not an integer"
        ) from error
    if number < 0:
        raise NbiaResponseError(f"getSeries row of series {series_uid}: {field} is {number}")
    return number


class TciaSource(DataSource):
    """NSCLC-Radiogenomics from TCIA (imaging, labels) and GEO (RNA-seq), over HTTPS.

    Args:
        base_url: NBIA v4 services URL.
        collection: the collection as NBIA spells it.
        clinical_url: the clinical labels CSV.
        rnaseq_url: the GEO RNA-seq matrix (gzip).
        timeout_s: (connect, read) timeout per request.
        retry: retry policy per request.
        series_attempts: whole-series downloads tried on a corrupt zip or MD5 mismatch.
        md5: ask NBIA for ``md5hashes.csv`` and check every instance against it.
        http: a ready HTTP layer (tests inject one with a recorded sleep).
    """

    name: ClassVar[str] = "tcia"
    offline: ClassVar[bool] = False

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_NBIA_BASE_URL,
        collection: str = NSCLC_RADIOGENOMICS,
        clinical_url: str = DEFAULT_CLINICAL_URL,
        rnaseq_url: str = DEFAULT_RNASEQ_URL,
        timeout_s: tuple[float, float] = (10.0, 120.0),
        retry: RetryPolicy | None = None,
        series_attempts: int = 2,
        md5: bool = True,
        http: HttpClient | None = None,
    ) -> None:
        self.http = http or HttpClient(timeout_s=timeout_s, retry=retry)
        self.client = NbiaClient(base_url, http=self.http, series_attempts=series_attempts)
        self.collection = collection
        self.clinical_url = clinical_url
        self.rnaseq_url = rnaseq_url
        self.md5 = md5

    def describe(self) -> dict[str, str]:
        return {
            **super().describe(),
            "nbia_base_url": self.client.base_url,
            "collection": self.collection,
            "clinical_url": self.clinical_url,
            "rnaseq_url": self.rnaseq_url,
        }

    def clinical_origin(self) -> str:
        return self.clinical_url

    def rnaseq_origin(self) -> str:
        return self.rnaseq_url

    def fetch_clinical_labels(self, dest: Path, log: LogFn) -> None:
        fetch_file(self.http, self.clinical_url, dest, check="csv", log=log)

    def fetch_rnaseq_matrix(self, dest: Path, log: LogFn) -> None:
        check = "gzip" if self.rnaseq_url.endswith(".gz") else "none"
        fetch_file(self.http, self.rnaseq_url, dest, check=check, log=log)

    def imaging_manifest(self, log: LogFn) -> Manifest:
        """CT and SEG series of the collection, one row each (SEG references unknown: NULL).

        A row whose PatientID or SeriesInstanceUID is unsafe for paths or SQL is refused as a
        ``dicom_series`` record (the rest of the collection is still listed).

        Raises:
            SourceError: the collection has no CT or SEG series (misspelt name?).
            NbiaResponseError: a row lacks its image count, or a UID repeats.
        """
        rows = self.client.get_series(self.collection, log=log)
        refused: list[Rejection] = []
        records = self._manifest_records(rows, refused)
        if not records and not refused:
            raise SourceError(
                f"{self.client.endpoint('getSeries')} lists no CT or SEG series for collection "
                f"{self.collection!r} ({len(rows)} rows in all); NBIA spells it "
                f"{NSCLC_RADIOGENOMICS!r}"
            )
        frame = pd.DataFrame.from_records(records, columns=list(MANIFEST_COLUMNS))
        log(
            f"NBIA manifest for {self.collection!r}: {frame['patient_id'].nunique()} patients, "
            + ", ".join(f"{m} {int((frame['modality'] == m).sum())}" for m in IMAGING_MODALITIES)
        )
        return Manifest(frame, tuple(refused))

    def _manifest_records(
        self, rows: list[dict[str, Any]], refused: list[Rejection]
    ) -> list[dict[str, Any]]:
        """Manifest rows of the CT and SEG series; rows with unsafe ids go to ``refused``."""
        records = []
        seen: set[str] = set()
        for number, row in enumerate(rows, start=1):
            if row.get("Modality") not in IMAGING_MODALITIES:
                continue
            try:
                series_uid = validate_uid(row.get("SeriesInstanceUID"), what="SeriesInstanceUID")
                patient_id = validate_patient_id(
                    row.get("PatientID"), where=f"getSeries row of series {series_uid}"
                )
            except (InvalidUidError, InvalidPatientIdError) as error:
                refused.append(
                    Rejection(
                        kind="dicom_series",
                        source_file=self.client.endpoint("getSeries"),
                        location=f"row {number} (series {row.get('SeriesInstanceUID')!r})",
                        reason=str(error),
                        raw_value=str(row.get("PatientID")),
                    )
                )
                continue
            if series_uid in seen:
                raise NbiaResponseError(f"getSeries lists series {series_uid} twice")
            seen.add(series_uid)
            size = row.get("FileSize")
            records.append(
                {
                    "patient_id": patient_id,
                    "modality": row["Modality"],
                    "series_uid": series_uid,
                    "study_uid": row.get("StudyInstanceUID"),
                    "referenced_series_uid": None,
                    "instance_count": _count(
                        row.get("ImageCount"), series_uid=series_uid, field="ImageCount"
                    ),
                    "series_description": row.get("SeriesDescription"),
                    "size_bytes": None
                    if size is None
                    else _count(size, series_uid=series_uid, field="FileSize"),
                    "source_location": url_with_params(
                        self.client.endpoint("getImage"), {"SeriesInstanceUID": series_uid}
                    ),
                }
            )
        return records

    def patient_series(self, patient_id: str, log: LogFn) -> pd.DataFrame:
        """The patient's CT and SEG rows, from one ``getSeries`` call filtered by patient.

        Raises:
            InvalidPatientIdError: ``patient_id`` is unsafe.
            NbiaResponseError: as for :meth:`imaging_manifest`.
        """
        validate_patient_id(patient_id, where="patient_series")
        rows = self.client.get_series(self.collection, patient_id=patient_id, log=log)
        # Refused rows are recorded by raw/imaging_manifest, which reads the whole collection.
        return pd.DataFrame.from_records(
            self._manifest_records(rows, []), columns=list(MANIFEST_COLUMNS)
        )

    def fetch_series(
        self, patient_id: str, series_uid: str, dest_dir: Path, log: LogFn
    ) -> SeriesOrigins:
        """Download and verify one series after checking NBIA files it under ``patient_id``;
        each file's origin is its member of the ``getImage`` zip.

        Raises:
            InvalidPatientIdError, InvalidUidError: unsafe identifiers.
            SeriesMismatchError: NBIA does not list the series, or lists it under another
                patient or collection.
            SeriesVerificationError (subclasses), HttpError (subclasses): see
                :meth:`NbiaClient.download_series`.
        """
        validate_patient_id(patient_id, where="fetch_series")
        validate_uid(series_uid, what="SeriesInstanceUID")
        rows = self.client.get_series(series_uid=series_uid, log=log)
        if len(rows) != 1:
            raise SeriesMismatchError(
                f"getSeries lists {len(rows)} row(s) for series {series_uid} (patient "
                f"{patient_id}); expected exactly one"
            )
        row = rows[0]
        if row.get("PatientID") != patient_id or row.get("Collection") != self.collection:
            raise SeriesMismatchError(
                f"series {series_uid} belongs to patient {row.get('PatientID')!r} in collection "
                f"{row.get('Collection')!r}, not patient {patient_id!r} in {self.collection!r}"
            )
        expected = _count(row.get("ImageCount"), series_uid=series_uid, field="ImageCount")
        download = self.client.download_series(
            series_uid,
            dest_dir,
            expected_count=expected,
            md5=self.md5,
            patient_id=patient_id,
            log=log,
        )
        url = url_with_params(self.client.endpoint("getImage"), {"SeriesInstanceUID": series_uid})
        return {name: f"{member} in {url}" for name, member in download.members.items()}
