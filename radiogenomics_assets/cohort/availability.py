"""Which data each clinical patient has, and which patients the other sources know but we do not.

The clinical labels define the population: a patient with no clinical row has no outcome and
cannot enter the cohort. Such patients are never dropped silently nor given an invented clinical
row: :func:`unmatched_patients` lists them with the source that names them.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from radiogenomics_assets.ids import validate_patient_id

AVAILABILITY_COLUMNS = (
    "patient_id",
    "has_rnaseq",
    "has_ct",
    "has_seg",
    "n_expression_values",
    "n_ct_series",
    "n_seg_series",
)
_LONG_COLUMNS = ("patient_id", "gene", "expression")
_MANIFEST_COLUMNS = ("patient_id", "modality")


class AvailabilityInputError(ValueError):
    """An input to the availability join is malformed (column missing, ids duplicated)."""


def _require(frame: pd.DataFrame, columns: Iterable[str], name: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise AvailabilityInputError(f"{name} lacks column(s) {missing}; got {list(frame.columns)}")


def _clinical_list(clinical_ids: Iterable[str]) -> list[str]:
    ids = [validate_patient_id(patient, where="clinical ids") for patient in clinical_ids]
    series = pd.Series(ids, dtype="object")
    duplicated = sorted(series[series.duplicated()].unique())
    if duplicated:
        raise AvailabilityInputError(f"clinical ids contain duplicates: {duplicated}")
    return ids


def availability(
    clinical_ids: Iterable[str], rnaseq_long: pd.DataFrame, manifest: pd.DataFrame
) -> pd.DataFrame:
    """One row per clinical patient (in the given order) saying what data exists for them.

    ``has_rnaseq``: at least one non-NaN expression value in ``rnaseq_long`` (the raw long table
    ``patient_id, gene, expression``). ``has_ct`` / ``has_seg``: at least one manifest row with
    modality ``CT`` / ``SEG`` (compared case-insensitively; other modalities such as ``PT`` are
    ignored). The counts behind each flag are included.

    Raises:
        AvailabilityInputError: a column is missing or a clinical id is listed twice.
        InvalidPatientIdError: a clinical id is not a safe identifier.
    """
    ids = _clinical_list(clinical_ids)
    _require(rnaseq_long, _LONG_COLUMNS, "rnaseq long table")
    _require(manifest, _MANIFEST_COLUMNS, "imaging manifest")

    measured = rnaseq_long.loc[rnaseq_long["expression"].notna(), "patient_id"]
    n_values = measured.astype(str).value_counts()
    modality = manifest["modality"].astype("string").str.strip().str.upper()
    n_ct = manifest.loc[modality.eq("CT").fillna(False), "patient_id"].astype(str).value_counts()
    n_seg = manifest.loc[modality.eq("SEG").fillna(False), "patient_id"].astype(str).value_counts()

    frame = pd.DataFrame({"patient_id": pd.array(ids, dtype="string")})
    frame["n_expression_values"] = pd.array(
        [int(n_values.get(patient, 0)) for patient in ids], dtype="Int64"
    )
    frame["n_ct_series"] = pd.array([int(n_ct.get(patient, 0)) for patient in ids], dtype="Int64")
    frame["n_seg_series"] = pd.array([int(n_seg.get(patient, 0)) for patient in ids], dtype="Int64")
    frame["has_rnaseq"] = (frame["n_expression_values"] > 0).astype("boolean")
    frame["has_ct"] = (frame["n_ct_series"] > 0).astype("boolean")
    frame["has_seg"] = (frame["n_seg_series"] > 0).astype("boolean")
    return frame[list(AVAILABILITY_COLUMNS)]


def unmatched_patients(
    clinical_ids: Iterable[str], rnaseq_long: pd.DataFrame, manifest: pd.DataFrame
) -> pd.DataFrame:
    """Patients the RNA-seq table or the imaging manifest name but the clinical file lacks.

    Returns ``patient_id, source ('rnaseq_expression' | 'imaging_manifest'), reason``, one row per
    (patient, source), sorted. These patients have no outcome, so they are reported here and
    take no part in the cohort.

    Raises:
        AvailabilityInputError: a column is missing or a clinical id is listed twice.
        InvalidPatientIdError: a clinical id is not a safe identifier.
    """
    known = set(_clinical_list(clinical_ids))
    _require(rnaseq_long, _LONG_COLUMNS, "rnaseq long table")
    _require(manifest, _MANIFEST_COLUMNS, "imaging manifest")
    rows = []
    for source, frame in (("rnaseq_expression", rnaseq_long), ("imaging_manifest", manifest)):
        for patient in sorted(set(frame["patient_id"].dropna().astype(str)) - known):
            rows.append(
                {
                    "patient_id": patient,
                    "source": source,
                    "reason": f"{patient} is in {source} but not in the clinical labels, "
                    "so it has no outcome and cannot enter the cohort",
                }
            )
    return pd.DataFrame(rows, columns=["patient_id", "source", "reason"]).astype("string")
