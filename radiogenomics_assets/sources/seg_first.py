"""SEG first: download a patient's DICOM SEG, read which CT it was drawn on, fetch only that CT.

Neither NBIA nor IDC's packaged index links a SEG to its CT, and NSCLC-Radiogenomics patients
have several CT series each (727 in all, about 91 GB). The SEG's Common Instance Reference
module (``ReferencedSeriesSequence``) names the CT series exactly, so reading it after the small
SEG download turns "every CT" into "the one CT the nodule mask belongs to".
"""

from __future__ import annotations

from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from radiogenomics_assets.sources.base import SourceError


class SegReferenceError(SourceError):
    """A downloaded SEG is unreadable, not a SEG, or names no referenced series."""


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
