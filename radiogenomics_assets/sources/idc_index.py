"""The IDC series index for a collection, offline, and what a SEG-first download would fetch.

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

from dataclasses import dataclass
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


@dataclass(frozen=True)
class SegFirstPlan:
    """What a SEG-first download of the whole cohort would fetch.

    The index cannot say which CT a SEG was drawn on, so the CT part is estimated from the
    study: the SEG's CT is taken to be a CT series of the SEG's own study (Slicer and ePAD
    store the SEG in the study of the image they segment). Where that study holds one CT the
    estimate is exact (``n_exact``); where it holds several the smallest and largest give the
    bounds; where it holds none, any CT of the patient does.

    Attributes:
        per_seg: one row per original SEG: patient_id, seg_series_uid, seg_bytes,
            n_ct_candidates, basis, ct_series_uid (when one candidate), ct_bytes_low,
            ct_bytes_high.
        n_patients, n_seg_series: patients and original SEG series.
        n_ct_series: CT series fetched (one per SEG).
        n_exact: SEGs whose CT is determined by the study.
        seg_bytes, ct_bytes_low, ct_bytes_high: bytes of SEGs and the CT bounds.
        all_ct_series, all_ct_bytes: what fetching every CT of the collection would cost.
    """

    per_seg: pd.DataFrame
    n_patients: int
    n_seg_series: int
    n_ct_series: int
    n_exact: int
    seg_bytes: int
    ct_bytes_low: int
    ct_bytes_high: int
    all_ct_series: int
    all_ct_bytes: int

    @property
    def n_series(self) -> int:
        return self.n_seg_series + self.n_ct_series

    def summary(self) -> str:
        low = (self.seg_bytes + self.ct_bytes_low) / 1e9
        high = (self.seg_bytes + self.ct_bytes_high) / 1e9
        return (
            f"SEG-first: {self.n_series} series ({self.n_seg_series} SEG + {self.n_ct_series} CT) "
            f"for {self.n_patients} patients, {low:.2f}-{high:.2f} GB (CT exact for "
            f"{self.n_exact}/{self.n_seg_series} SEGs, bounded by their study otherwise); "
            f"every CT instead: {self.all_ct_series} series, {self.all_ct_bytes / 1e9:.1f} GB"
        )


def seg_first_plan(manifest: pd.DataFrame) -> SegFirstPlan:
    """Estimate the SEG-first download from an :func:`idc_manifest` (see :class:`SegFirstPlan`).

    Raises:
        IdcIndexError: the manifest has no original SEG, or a SEG's patient has no CT at all.
    """
    segs = original_segmentations(manifest)
    if segs.empty:
        raise IdcIndexError("the manifest holds no original SEG series to plan from")
    cts = manifest[manifest["modality"] == "CT"]
    records = []
    for seg in segs.itertuples(index=False):
        candidates = cts[
            (cts["patient_id"] == seg.patient_id) & (cts["study_uid"] == seg.study_uid)
        ]
        basis = "same study"
        if candidates.empty:
            candidates = cts[cts["patient_id"] == seg.patient_id]
            basis = "same patient (no CT in the SEG's study)"
        if candidates.empty:
            raise IdcIndexError(f"patient {seg.patient_id} has SEG {seg.series_uid} but no CT")
        sizes = candidates["size_bytes"].astype("int64")
        records.append(
            {
                "patient_id": seg.patient_id,
                "seg_series_uid": seg.series_uid,
                "seg_bytes": int(seg.size_bytes),
                "n_ct_candidates": len(candidates),
                "basis": basis,
                "ct_series_uid": candidates["series_uid"].iloc[0] if len(candidates) == 1 else None,
                "ct_bytes_low": int(sizes.min()),
                "ct_bytes_high": int(sizes.max()),
            }
        )
    per_seg = pd.DataFrame.from_records(records)
    exact = (per_seg["n_ct_candidates"] == 1) & (per_seg["basis"] == "same study")
    return SegFirstPlan(
        per_seg=per_seg,
        n_patients=int(per_seg["patient_id"].nunique()),
        n_seg_series=len(per_seg),
        n_ct_series=len(per_seg),
        n_exact=int(exact.sum()),
        seg_bytes=int(per_seg["seg_bytes"].sum()),
        ct_bytes_low=int(per_seg["ct_bytes_low"].sum()),
        ct_bytes_high=int(per_seg["ct_bytes_high"].sum()),
        all_ct_series=len(cts),
        all_ct_bytes=int(cts["size_bytes"].astype("int64").sum()),
    )
