"""Check single DICOM files as they enter the store: parseable, complete, of the right series.

Raw assets call :func:`read_instance` on every file they fetch, so a file that is not DICOM, a
truncated transfer or a file of another series fails that patient's partition with the path in
the message before anything downstream reads pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from radiogenomics_assets.dicom.errors import (
    MixedSeriesError,
    NotDicomError,
    TruncatedDicomError,
    WrongModalityError,
)

_UNCOMPRESSED = {
    pydicom.uid.ImplicitVRLittleEndian,
    pydicom.uid.ExplicitVRLittleEndian,
    pydicom.uid.ExplicitVRBigEndian,
}


@dataclass(frozen=True)
class InstanceHeader:
    """The identifying header fields of one DICOM instance."""

    path: Path
    patient_id: str
    modality: str
    study_uid: str
    series_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    instance_number: int | None
    frame_of_reference_uid: str | None
    referenced_series_uid: str | None


def _expected_pixel_bytes(ds: pydicom.Dataset) -> int:
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    bits = int(ds.BitsAllocated) * int(ds.get("SamplesPerPixel", 1))
    return math.ceil(int(ds.Rows) * int(ds.Columns) * frames * bits / 8)


def check_pixel_data_complete(ds: pydicom.Dataset, path: Path) -> None:
    """Raise TruncatedDicomError if uncompressed pixel data is shorter than the header says.

    pydicom reads a file cut inside its pixel data without complaint, so this is the check
    that catches an interrupted copy or download.
    """
    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if "PixelData" in ds and syntax in _UNCOMPRESSED:
        expected, actual = _expected_pixel_bytes(ds), len(ds.PixelData)
        if actual < expected:
            raise TruncatedDicomError(
                f"{path}: pixel data holds {actual} bytes, the header announces {expected}"
            )


def read_instance(
    path: Path,
    *,
    expected_series_uid: str | None = None,
    expected_modality: str | None = None,
) -> InstanceHeader:
    """Read and check one DICOM file completely (pixels included, then discarded).

    Raises:
        NotDicomError: the file is not DICOM.
        TruncatedDicomError: the file ends early, or its pixel data is shorter than the header says.
        MixedSeriesError: the file belongs to another SeriesInstanceUID than expected.
        WrongModalityError: the file's Modality is not the expected one.
    """
    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError as error:
        raise NotDicomError(f"{path}: not a DICOM file ({error})") from error
    except (OSError, EOFError, ValueError) as error:
        raise TruncatedDicomError(
            f"{path}: the DICOM file is truncated or corrupt ({error})"
        ) from error
    if "SeriesInstanceUID" not in ds or "SOPInstanceUID" not in ds:
        raise NotDicomError(f"{path}: no SeriesInstanceUID/SOPInstanceUID, not a DICOM instance")
    check_pixel_data_complete(ds, path)
    if expected_series_uid is not None and ds.SeriesInstanceUID != expected_series_uid:
        raise MixedSeriesError(
            f"{path}: SeriesInstanceUID {ds.SeriesInstanceUID} differs from the series being "
            f"read, {expected_series_uid}"
        )
    modality = str(ds.get("Modality", ""))
    if expected_modality is not None and modality != expected_modality:
        raise WrongModalityError(f"{path}: Modality {modality!r}, expected {expected_modality!r}")
    referenced = ds.get("ReferencedSeriesSequence")
    number = ds.get("InstanceNumber")
    return InstanceHeader(
        path=path,
        patient_id=str(ds.get("PatientID", "")),
        modality=modality,
        study_uid=str(ds.get("StudyInstanceUID", "")),
        series_uid=str(ds.SeriesInstanceUID),
        sop_instance_uid=str(ds.SOPInstanceUID),
        sop_class_uid=str(ds.get("SOPClassUID", "")),
        instance_number=int(number) if number not in (None, "") else None,
        frame_of_reference_uid=str(ds.FrameOfReferenceUID) if "FrameOfReferenceUID" in ds else None,
        referenced_series_uid=str(referenced[0].SeriesInstanceUID) if referenced else None,
    )


def read_series_instances(
    paths: list[Path], *, expected_series_uid: str, expected_modality: str
) -> list[InstanceHeader]:
    """Check every file of one series; the first failing file raises (see :func:`read_instance`).

    Raises:
        MixedSeriesError: additionally, when two files carry the same SOPInstanceUID.
    """
    headers = [
        read_instance(
            p, expected_series_uid=expected_series_uid, expected_modality=expected_modality
        )
        for p in sorted(paths)
    ]
    seen: dict[str, Path] = {}
    for header in headers:
        if header.sop_instance_uid in seen:
            raise MixedSeriesError(
                f"{header.path} and {seen[header.sop_instance_uid]} carry the same SOPInstanceUID "
                f"{header.sop_instance_uid}"
            )
        seen[header.sop_instance_uid] = header.path
    return headers
