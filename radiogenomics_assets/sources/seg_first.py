"""SEG first: download a patient's DICOM SEG, read which CT it was drawn on, fetch only that CT.

Neither NBIA nor IDC's packaged index links a SEG to its CT, and NSCLC-Radiogenomics patients
have several CT series each (727 in all, about 91 GB). The SEG's Common Instance Reference
module (``ReferencedSeriesSequence``) names the CT series exactly, so reading it after the small
SEG download turns "every CT" into "the one CT the nodule mask belongs to".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pydicom
from pydicom.errors import InvalidDicomError

from radiogenomics_assets.ids import validate_patient_id
from radiogenomics_assets.sources.base import DataSource, LogFn, SourceError
from radiogenomics_assets.sources.manifest import choose_segmentation
from radiogenomics_assets.store.files import FileStore


class SegReferenceError(SourceError):
    """A downloaded SEG does not name a CT series of its patient that the manifest lists."""


@dataclass(frozen=True)
class SegFirstResult:
    """The two published folders of one patient and the series they hold."""

    patient_id: str
    seg_series_uid: str
    seg_dir: Path
    ct_series_uid: str
    ct_dir: Path


def referenced_series_uids(seg_dir: Path) -> list[str]:
    """SeriesInstanceUIDs named by the SEG instance(s) in ``seg_dir``, in first-seen order.

    Reads ``ReferencedSeriesSequence`` and, for references into other studies,
    ``StudiesContainingOtherReferencedInstancesSequence``.

    Raises:
        SegReferenceError: a file is not a DICOM SEG, or no series is referenced.
    """
    found: list[str] = []
    files = sorted(Path(seg_dir).glob("*.dcm"))
    if not files:
        raise SegReferenceError(f"{seg_dir} holds no .dcm file")
    for path in files:
        try:
            dataset = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError, EOFError) as error:
            raise SegReferenceError(f"{path} is not readable DICOM: {error}") from error
        if dataset.get("Modality") != "SEG":
            raise SegReferenceError(f"{path} has Modality {dataset.get('Modality')!r}, not SEG")
        items = list(dataset.get("ReferencedSeriesSequence", []))
        for study in dataset.get("StudiesContainingOtherReferencedInstancesSequence", []):
            items.extend(study.get("ReferencedSeriesSequence", []))
        for item in items:
            uid = item.get("SeriesInstanceUID")
            if uid and uid not in found:
                found.append(str(uid))
    if not found:
        raise SegReferenceError(f"the SEG in {seg_dir} references no series")
    return found


def referenced_ct_row(manifest: pd.DataFrame, patient_id: str, seg_dir: Path) -> pd.Series:
    """The manifest's CT row for the series the patient's downloaded SEG was drawn on.

    Raises:
        SegReferenceError: none of the referenced series is a CT of this patient in the
            manifest, or more than one is.
    """
    referenced = referenced_series_uids(seg_dir)
    rows = manifest[
        (manifest["patient_id"] == patient_id)
        & (manifest["modality"] == "CT")
        & (manifest["series_uid"].isin(referenced))
    ]
    if len(rows) != 1:
        raise SegReferenceError(
            f"patient {patient_id}: the SEG references series {referenced}, of which "
            f"{len(rows)} are CT series of this patient in the manifest (expected 1)"
        )
    return rows.iloc[0]


def fetch_seg_first(
    source: DataSource,
    store: FileStore,
    manifest: pd.DataFrame,
    patient_id: str,
    *,
    seg_parts: tuple[str, ...],
    ct_parts: tuple[str, ...],
    log: LogFn,
) -> SegFirstResult:
    """Publish the patient's SEG under ``seg_parts``, then only its CT under ``ct_parts``.

    The SEG is chosen by :func:`~radiogenomics_assets.sources.manifest.choose_segmentation`.

    Each folder is published atomically; if the CT fails, the SEG stays published (it is
    complete and verified) and no CT folder exists.

    Raises:
        InvalidPatientIdError, NoSegmentationError, SegReferenceError, and whatever
        ``source.fetch_series`` raises.
    """
    validate_patient_id(patient_id, where="fetch_seg_first")
    seg_row = choose_segmentation(manifest[manifest["patient_id"] == patient_id], patient_id)
    with store.atomic_directory(*seg_parts) as temp:
        source.fetch_series(patient_id, seg_row["series_uid"], temp, log)
    seg_dir = store.path(*seg_parts)
    ct_row = referenced_ct_row(manifest, patient_id, seg_dir)
    log(f"patient {patient_id}: SEG {seg_row['series_uid']} is drawn on CT {ct_row['series_uid']}")
    with store.atomic_directory(*ct_parts) as temp:
        source.fetch_series(patient_id, ct_row["series_uid"], temp, log)
    return SegFirstResult(
        patient_id, seg_row["series_uid"], seg_dir, ct_row["series_uid"], store.path(*ct_parts)
    )
