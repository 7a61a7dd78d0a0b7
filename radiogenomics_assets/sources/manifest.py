"""Checks and choices on the imaging manifest, shared by every source."""

from __future__ import annotations

import pandas as pd

from radiogenomics_assets.ids import validate_patient_id
from radiogenomics_assets.sources.base import MANIFEST_COLUMNS

#: TCIA's description of the collection's original (radiologist, 3D Slicer) segmentations.
ORIGINAL_SEG_DESCRIPTION = "3D Slicer segmentation result"


class ManifestError(ValueError):
    """The manifest lacks a column, holds an unknown modality or an invalid patient id."""


class NoSegmentationError(LookupError):
    """A patient has no SEG series at the source."""


def validate_manifest(manifest: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Return the manifest with exactly :data:`MANIFEST_COLUMNS`, in order, after checks.

    Raises:
        ManifestError: naming the missing column, the invalid id or the unexpected modality.
    """
    missing = [c for c in MANIFEST_COLUMNS if c not in manifest.columns]
    if missing:
        raise ManifestError(f"the {source} manifest lacks column(s) {missing}")
    for patient_id in manifest["patient_id"].unique():
        validate_patient_id(patient_id, where=f"the {source} imaging manifest")
    modalities = set(manifest["modality"]) - {"CT", "SEG"}
    if modalities:
        raise ManifestError(f"the {source} manifest holds modalities {sorted(modalities)}")
    # A series is (patient, UID): a UID two patients share stays apart (see sources.local).
    keys = manifest[["patient_id", "series_uid"]]
    duplicated = keys[keys.duplicated()]
    if not duplicated.empty:
        patient_id, series_uid = duplicated.iloc[0]
        raise ManifestError(
            f"the {source} manifest lists series {series_uid} of patient {patient_id} twice"
        )
    return manifest.loc[:, list(MANIFEST_COLUMNS)].reset_index(drop=True)


def choose_segmentation(patient_rows: pd.DataFrame, patient_id: str) -> pd.Series:
    """The SEG series to use for a patient.

    Rule: the original TCIA segmentation (SeriesDescription "3D Slicer segmentation result")
    first, then any other SEG (ePAD DSOs); within a rank the series with most instances, then the
    smallest UID, so the choice is deterministic.

    Raises:
        NoSegmentationError: the patient has no SEG series.
    """
    segs = patient_rows[patient_rows["modality"] == "SEG"]
    if segs.empty:
        raise NoSegmentationError(f"patient {patient_id} has no SEG series at the source")
    ranked = segs.assign(
        _rank=(segs["series_description"] != ORIGINAL_SEG_DESCRIPTION).astype(int),
        _count=-pd.to_numeric(segs["instance_count"], errors="coerce").fillna(0),
    ).sort_values(["_rank", "_count", "series_uid"], kind="mergesort")
    return ranked.iloc[0].drop(["_rank", "_count"])


def imaged_patients(manifest: pd.DataFrame) -> list[str]:
    """Patients with at least one SEG series: only they can get a nodule mask."""
    ids = manifest.loc[manifest["modality"] == "SEG", "patient_id"].unique()
    return sorted(validate_patient_id(p, where="the imaging manifest") for p in ids)
