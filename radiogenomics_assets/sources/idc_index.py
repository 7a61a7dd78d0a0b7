"""The IDC series index for a collection, read offline.

``idc-index-data`` ships IDC's series index as one parquet file (every series of every
collection: patient, study, modality, description, instance count, size, licence, bucket and
``crdc_series_uuid``). It is read here with the project's own DuckDB, the collection bound as a
parameter. The ``idc-index`` client that normally wraps it pins ``duckdb<2`` and cannot be
installed beside this project's ``duckdb==2.0.0``.

Two kinds of SEG are in ``nsclc_radiogenomics``: the collection's original segmentations
(``analysis_result_id`` NULL: "3D Slicer segmentation result" and "ePAD Generated DSO ...") and
the AI-derived ones IDC added later (``analysis_result_id = 'bamf_aimi_annotations'``). The
pipeline uses only the originals.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from radiogenomics_assets.ids import validate_patient_id, validate_uid
from radiogenomics_assets.sources.base import MANIFEST_COLUMNS, SourceError

#: IDC's collection id for NSCLC-Radiogenomics.
IDC_COLLECTION = "nsclc_radiogenomics"
#: Columns idc_manifest adds after MANIFEST_COLUMNS.
IDC_EXTRA_COLUMNS = (
    "analysis_result_id",
    "source_doi",
    "license_short_name",
    "aws_bucket",
    "crdc_series_uuid",
)

# IDC's series_size_MB counts decimal megabytes (a 526,684-byte CT slice is 0.5267 MB).
_SELECT_SERIES = """
SELECT
    PatientID AS patient_id,
    Modality AS modality,
    SeriesInstanceUID AS series_uid,
    StudyInstanceUID AS study_uid,
    CAST(NULL AS VARCHAR) AS referenced_series_uid,
    instanceCount AS instance_count,
    SeriesDescription AS series_description,
    CAST(round(series_size_MB * 1000000) AS BIGINT) AS size_bytes,
    series_aws_url AS source_location,
    analysis_result_id,
    source_DOI AS source_doi,
    license_short_name,
    aws_bucket,
    crdc_series_uuid
FROM read_parquet(?)
WHERE collection_id = ? AND Modality IN ('CT', 'SEG')
ORDER BY patient_id, modality, series_uid
"""


class IdcIndexError(SourceError):
    """The IDC index is missing, or holds nothing usable for the collection."""


def default_index_path() -> Path:
    """The series index parquet shipped by the installed ``idc-index-data``.

    Raises:
        IdcIndexError: the package is not installed.
    """
    try:
        import idc_index_data
    except ImportError as error:
        raise IdcIndexError("idc-index-data is not installed; it ships IDC's index") from error
    return Path(idc_index_data.IDC_INDEX_PARQUET_FILEPATH)


def idc_manifest(
    collection: str = IDC_COLLECTION, *, index_path: Path | None = None
) -> pd.DataFrame:
    """CT and SEG series of ``collection`` from the index: MANIFEST_COLUMNS + IDC_EXTRA_COLUMNS.

    Every SEG is listed (originals and AI-derived; tell them apart by ``analysis_result_id``).
    ``referenced_series_uid`` is NULL: the index has no SEG-to-CT column.

    Raises:
        IdcIndexError: the index file is missing or lists no CT/SEG series for the collection.
        InvalidPatientIdError, InvalidUidError: an identifier unsafe for paths or SQL.
    """
    path = Path(index_path) if index_path is not None else default_index_path()
    if not path.is_file():
        raise IdcIndexError(f"IDC index not found at {path}")
    with duckdb.connect() as conn:
        frame = conn.execute(_SELECT_SERIES, [str(path), collection]).fetchdf()
    if frame.empty:
        raise IdcIndexError(f"{path} lists no CT or SEG series for collection {collection!r}")
    for patient_id in frame["patient_id"].unique():
        validate_patient_id(patient_id, where=f"IDC index {path.name}")
    for uid in frame["series_uid"]:
        validate_uid(uid, what="SeriesInstanceUID in the IDC index")
    duplicated = frame["series_uid"][frame["series_uid"].duplicated()]
    if not duplicated.empty:
        raise IdcIndexError(f"{path} lists series {duplicated.iloc[0]} twice")
    frame["instance_count"] = frame["instance_count"].astype("int64")
    return frame.loc[:, [*MANIFEST_COLUMNS, *IDC_EXTRA_COLUMNS]].reset_index(drop=True)


def original_segmentations(manifest: pd.DataFrame) -> pd.DataFrame:
    """The SEG rows that came with the collection (no ``analysis_result_id``), not AI-derived."""
    mask = (manifest["modality"] == "SEG") & manifest["analysis_result_id"].isna()
    return manifest[mask].reset_index(drop=True)
