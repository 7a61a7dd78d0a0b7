"""The IDC series index for a collection, from ``idc-index``, offline.

``idc-index``'s :class:`IDCClient` loads the series index that ``idc-index-data`` packages
(every series of every collection: patient, study, modality, description, instance count, size,
licence, bucket and ``crdc_series_uuid``) into ``IDCClient.index``. Building the client reads
only packaged files: the index and prior-versions parquets, the list of bundled indices, and a
``s5cmd --help`` run to check the downloader works. It downloads nothing and checks no version
online; it takes several seconds, so one client (``IDCClient.client()``) serves the process.

Two kinds of SEG are in ``nsclc_radiogenomics``: the collection's original segmentations
(``analysis_result_id`` NULL: "3D Slicer segmentation result" and "ePAD Generated DSO ...") and
the AI-derived ones IDC added later (``analysis_result_id = 'bamf_aimi_annotations'``). The
pipeline uses only the originals.
"""

from __future__ import annotations

import logging

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
#: Columns of IDCClient.index that idc_manifest reads.
INDEX_COLUMNS = (
    "collection_id",
    "analysis_result_id",
    "PatientID",
    "SeriesInstanceUID",
    "StudyInstanceUID",
    "source_DOI",
    "Modality",
    "SeriesDescription",
    "instanceCount",
    "license_short_name",
    "aws_bucket",
    "crdc_series_uuid",
    "series_aws_url",
    "series_size_MB",
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
FROM series_index
WHERE collection_id = ? AND Modality IN ('CT', 'SEG')
ORDER BY patient_id, modality, series_uid
"""


class IdcIndexError(SourceError):
    """The IDC index is missing, or holds nothing usable for the collection."""


def _import_idc_client() -> type:
    """``idc_index.IDCClient``, imported without its logging side effect.

    Importing ``idc_index`` calls ``logging.basicConfig(level=INFO)`` on the root logger, which
    would add a stderr handler to the host's (Dagster's) logging; the root logger is restored.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        from idc_index import IDCClient
    except ImportError as error:
        raise IdcIndexError("idc-index is not installed; it provides IDC's index") from error
    finally:
        root.handlers[:], root.level = handlers, level
    return IDCClient


def packaged_index() -> pd.DataFrame:
    """``IDCClient.index``: the series index ``idc-index-data`` ships, one client per process.

    Raises:
        IdcIndexError: idc-index is not installed.
    """
    return _import_idc_client().client().index


def idc_manifest(
    collection: str = IDC_COLLECTION, *, index: pd.DataFrame | None = None
) -> pd.DataFrame:
    """CT and SEG series of ``collection``: MANIFEST_COLUMNS + IDC_EXTRA_COLUMNS.

    ``index`` is a frame shaped like ``IDCClient.index`` (tests pass a small one); unset, the
    packaged index. Every SEG is listed (originals and AI-derived; tell them apart by
    ``analysis_result_id``). ``referenced_series_uid`` is NULL: the index has no SEG-to-CT column.

    Raises:
        IdcIndexError: idc-index is missing, the index lacks a column idc_manifest reads, or it
            lists no CT/SEG series for the collection.
        InvalidPatientIdError, InvalidUidError: an identifier unsafe for paths or SQL.
    """
    series_index = packaged_index() if index is None else index
    missing = [column for column in INDEX_COLUMNS if column not in series_index.columns]
    if missing:
        raise IdcIndexError(f"the IDC index lacks column(s) {missing}")
    with duckdb.connect() as conn:
        conn.register("series_index", series_index.loc[:, list(INDEX_COLUMNS)])
        frame = conn.execute(_SELECT_SERIES, [collection]).fetchdf()
    if frame.empty:
        raise IdcIndexError(
            f"the IDC index lists no CT or SEG series for collection {collection!r}"
        )
    for patient_id in frame["patient_id"].unique():
        validate_patient_id(patient_id, where="IDC index")
    for uid in frame["series_uid"]:
        validate_uid(uid, what="SeriesInstanceUID in the IDC index")
    duplicated = frame["series_uid"][frame["series_uid"].duplicated()]
    if not duplicated.empty:
        raise IdcIndexError(f"the IDC index lists series {duplicated.iloc[0]} twice")
    frame["instance_count"] = frame["instance_count"].astype("int64")
    return frame.loc[:, [*MANIFEST_COLUMNS, *IDC_EXTRA_COLUMNS]].reset_index(drop=True)


def original_segmentations(manifest: pd.DataFrame) -> pd.DataFrame:
    """The SEG rows that came with the collection (no ``analysis_result_id``), not AI-derived."""
    mask = (manifest["modality"] == "SEG") & manifest["analysis_result_id"].isna()
    return manifest[mask].reset_index(drop=True)
