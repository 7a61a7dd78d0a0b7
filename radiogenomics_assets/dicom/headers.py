"""Header-only inspection of DICOM files: is it DICOM, is it complete, which series is it in.

pydicom happily returns a partial dataset for a file cut short, so completeness is checked here
by hand: the header must parse up to the Pixel Data element, and that element's announced length
must fit in the file (and, for native encodings, hold every pixel the header describes). This
runs on headers alone, so whole downloads can be vetted before any pixel is decoded.
"""

from __future__ import annotations

import math
import struct
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from radiogenomics_assets.dicom.errors import (
    DuplicateInstanceError,
    EmptySeriesError,
    MissingAttributeError,
    MixedSeriesError,
    NotDicomError,
    TruncatedDicomError,
    WrongModalityError,
)

# pydicom is imported inside the functions that use it: the code location imports this
# module, and loading it must not cost seconds.

if TYPE_CHECKING:
    from pydicom.dataset import Dataset
    from pydicom.uid import UID

PIXEL_DATA_TAG = 0x7FE00010
# Explicit-VR encodings whose length field is 4 bytes after 2 reserved bytes (PS3.5 7.1.2).
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT"})
_UNDEFINED_LENGTH = 0xFFFFFFFF
_SEQUENCE_DELIMITER = (0xFFFE, 0xE0DD)


@dataclass(frozen=True, eq=False)
class DicomHeader:
    """The header of one DICOM file (no pixels) and the identifiers every check needs."""

    path: Path
    dataset: Dataset
    sop_instance_uid: str
    sop_class_uid: str
    series_uid: str
    study_uid: str
    modality: str
    #: DICOM PatientID, "" when absent.
    patient_id: str


def inspect_dicom_file(path: Path | str) -> DicomHeader:
    """Read one file's header and check that the file is complete DICOM.

    Args:
        path: the file to inspect.

    Returns:
        The header, read with ``stop_before_pixels``.

    Raises:
        NotDicomError: the file has no DICOM preamble/prefix or its header cannot be parsed.
        TruncatedDicomError: the file ends inside its header or its Pixel Data.
        MissingAttributeError: SOPInstanceUID, SeriesInstanceUID or Modality is absent.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as handle:
        try:
            dataset = pydicom.dcmread(handle, stop_before_pixels=True)
        except InvalidDicomError as error:
            raise NotDicomError(f"{path} is not a DICOM file: {error}") from error
        except (EOFError, struct.error, OSError, ValueError) as error:
            raise TruncatedDicomError(
                f"{path}: DICOM header could not be parsed to its end ({error})"
            ) from error
        _check_pixel_data_complete(handle, dataset, path, size)
    missing = [
        keyword
        for keyword in ("SOPInstanceUID", "SeriesInstanceUID", "Modality")
        if not str(dataset.get(keyword, "") or "").strip()
    ]
    if missing:
        raise MissingAttributeError(f"{path}: DICOM header lacks {', '.join(missing)}")
    return DicomHeader(
        path=path,
        dataset=dataset,
        sop_instance_uid=str(dataset.SOPInstanceUID),
        sop_class_uid=str(dataset.get("SOPClassUID", "")),
        series_uid=str(dataset.SeriesInstanceUID),
        study_uid=str(dataset.get("StudyInstanceUID", "")),
        modality=str(dataset.Modality),
        patient_id=str(dataset.get("PatientID", "") or ""),
    )


def check_series_files(
    paths: Sequence[Path | str], expected_series_uid: str | None = None
) -> list[DicomHeader]:
    """Inspect every file of a series and check they form exactly one series.

    Args:
        paths: the files of the series.
        expected_series_uid: the SeriesInstanceUID they must all carry; ``None`` accepts
            whichever single UID they share.

    Returns:
        The headers, in the order of ``paths``.

    Raises:
        EmptySeriesError: ``paths`` is empty.
        NotDicomError, TruncatedDicomError, MissingAttributeError: from
            :func:`inspect_dicom_file`, naming the file.
        MixedSeriesError: a file belongs to another series (names the file and both UIDs).
        DuplicateInstanceError: two files carry the same SOPInstanceUID.
    """
    if not paths:
        raise EmptySeriesError(f"no DICOM files given for series {expected_series_uid or '(any)'}")
    headers = [inspect_dicom_file(path) for path in paths]
    if expected_series_uid is not None:
        strays = [h for h in headers if h.series_uid != expected_series_uid]
        if strays:
            raise MixedSeriesError(
                f"{len(strays)} of {len(headers)} files are not in series "
                f"{expected_series_uid}: first {strays[0].path} has SeriesInstanceUID "
                f"{strays[0].series_uid}"
            )
    else:
        counts = Counter(h.series_uid for h in headers)
        if len(counts) > 1:
            examples = {uid: next(h.path for h in headers if h.series_uid == uid) for uid in counts}
            detail = "; ".join(
                f"{uid} ({count} files, e.g. {examples[uid]})" for uid, count in counts.items()
            )
            raise MixedSeriesError(f"files mix {len(counts)} series: {detail}")
    seen: dict[str, Path] = {}
    for header in headers:
        if header.sop_instance_uid in seen:
            raise DuplicateInstanceError(
                f"SOPInstanceUID {header.sop_instance_uid} of series {header.series_uid} is in "
                f"both {seen[header.sop_instance_uid]} and {header.path}"
            )
        seen[header.sop_instance_uid] = header.path
    return headers


@dataclass(frozen=True)
class InstanceHeader:
    """The identifying header fields of one DICOM instance (one row of a raw series table)."""

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

    @classmethod
    def from_header(cls, header: DicomHeader) -> InstanceHeader:
        dataset = header.dataset
        number = dataset.get("InstanceNumber")
        frame_of_reference = dataset.get("FrameOfReferenceUID")
        referenced = dataset.get("ReferencedSeriesSequence")
        return cls(
            path=header.path,
            patient_id=header.patient_id,
            modality=header.modality,
            study_uid=header.study_uid,
            series_uid=header.series_uid,
            sop_instance_uid=header.sop_instance_uid,
            sop_class_uid=header.sop_class_uid,
            instance_number=int(number) if number not in (None, "") else None,
            frame_of_reference_uid=str(frame_of_reference) if frame_of_reference else None,
            referenced_series_uid=(
                str(referenced[0].get("SeriesInstanceUID", "")) or None if referenced else None
            ),
        )


def read_instance(
    path: Path,
    *,
    expected_series_uid: str | None = None,
    expected_modality: str | None = None,
) -> InstanceHeader:
    """Check one DICOM file as it enters the store (header and Pixel Data length only).

    Raises:
        NotDicomError, TruncatedDicomError, MissingAttributeError: from
            :func:`inspect_dicom_file`.
        MixedSeriesError: the file belongs to another SeriesInstanceUID than expected.
        WrongModalityError: the file's Modality is not the expected one.
    """
    header = inspect_dicom_file(path)
    if expected_series_uid is not None and header.series_uid != expected_series_uid:
        raise MixedSeriesError(
            f"{path}: SeriesInstanceUID {header.series_uid} differs from the series being "
            f"read, {expected_series_uid}"
        )
    if expected_modality is not None and header.modality != expected_modality:
        raise WrongModalityError(
            f"{path}: Modality {header.modality!r}, expected {expected_modality!r}"
        )
    return InstanceHeader.from_header(header)


def read_series_instances(
    paths: Sequence[Path], *, expected_series_uid: str, expected_modality: str
) -> list[InstanceHeader]:
    """Check every file of one series, in path order; the first failing file raises.

    Raises:
        EmptySeriesError, NotDicomError, TruncatedDicomError, MissingAttributeError,
        MixedSeriesError, DuplicateInstanceError: from :func:`check_series_files`.
        WrongModalityError: a file's Modality is not ``expected_modality``.
    """
    headers = check_series_files(sorted(Path(p) for p in paths), expected_series_uid)
    for header in headers:
        if header.modality != expected_modality:
            raise WrongModalityError(
                f"{header.path}: Modality {header.modality!r} in series "
                f"{expected_series_uid}, expected {expected_modality!r}"
            )
    return [InstanceHeader.from_header(h) for h in headers]


def check_pixel_data_complete(dataset: Dataset, path: Path | str) -> None:
    """Raise if a fully read dataset's native Pixel Data is shorter than its header says.

    For callers that already hold the whole dataset (pixels included): pydicom reads a file
    cut inside its Pixel Data without complaint, so this is what catches an interrupted copy.

    Raises:
        TruncatedDicomError: naming ``path`` and both byte counts.
    """
    from pydicom.uid import UID

    meta = getattr(dataset, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if "PixelData" not in dataset or not syntax:
        return
    uid = UID(str(syntax))
    if not uid.is_transfer_syntax or uid.is_compressed:
        return
    expected = _native_pixel_bytes(dataset)
    actual = len(dataset.PixelData)
    if expected is not None and actual < expected:
        raise TruncatedDicomError(
            f"{path}: pixel data holds {actual} bytes, the header announces {expected}"
        )


def _check_pixel_data_complete(handle: BinaryIO, dataset: Dataset, path: Path, size: int) -> None:
    """Raise TruncatedDicomError unless a complete Pixel Data element follows the header.

    ``dcmread(stop_before_pixels=True)`` leaves ``handle`` at the start of the Pixel Data tag
    when there is one, and at the end of the file when the header ran out first.
    """
    transfer_syntax = _transfer_syntax(dataset, path)
    if transfer_syntax.is_transfer_syntax and transfer_syntax.is_deflated:
        # The dataset was inflated into memory; file offsets mean nothing. Pixel decoding
        # will fail loudly on such a file instead.
        return
    start = handle.tell()
    if start >= size:
        raise TruncatedDicomError(
            f"{path}: file ends after {size} bytes, before any Pixel Data element "
            "(truncated download?)"
        )
    if not transfer_syntax.is_transfer_syntax:
        raise NotDicomError(f"{path}: TransferSyntaxUID {transfer_syntax} is not a transfer syntax")
    little = transfer_syntax.is_little_endian
    endian = "<" if little else ">"
    head = handle.read(8)
    if len(head) < 8:
        raise TruncatedDicomError(f"{path}: file ends inside the Pixel Data element header")
    group, element = struct.unpack(f"{endian}HH", head[:4])
    if (group << 16 | element) != PIXEL_DATA_TAG:
        # Something after the header that is not Pixel Data: pydicom stopped on a malformed
        # element rather than on the pixel tag, so the header did not parse to its end.
        raise TruncatedDicomError(
            f"{path}: header stops at offset {start} on tag ({group:04X},{element:04X}), "
            "not on Pixel Data (7FE0,0010)"
        )
    if transfer_syntax.is_implicit_VR:
        (length,) = struct.unpack(f"{endian}I", head[4:8])
        value_start = start + 8
    elif head[4:6] in _LONG_VRS:
        extra = handle.read(4)
        if len(extra) < 4:
            raise TruncatedDicomError(f"{path}: file ends inside the Pixel Data element header")
        (length,) = struct.unpack(f"{endian}I", extra)
        value_start = start + 12
    else:
        (length,) = struct.unpack(f"{endian}H", head[6:8])
        value_start = start + 8
    if length == _UNDEFINED_LENGTH:
        _check_encapsulated_end(handle, path, size, endian)
        return
    if value_start + length > size:
        raise TruncatedDicomError(
            f"{path}: Pixel Data announces {length} bytes but only {size - value_start} remain "
            "(truncated download?)"
        )
    expected = _native_pixel_bytes(dataset)
    if not transfer_syntax.is_compressed and expected is not None and length < expected:
        raise TruncatedDicomError(
            f"{path}: Pixel Data holds {length} bytes, the header's Rows x Columns x frames x "
            f"bits needs {expected}"
        )


def _check_encapsulated_end(handle: BinaryIO, path: Path, size: int, endian: str) -> None:
    if size < 8:
        raise TruncatedDicomError(f"{path}: file too short for encapsulated Pixel Data")
    handle.seek(size - 8)
    tail = handle.read(8)
    group, element, length = struct.unpack(f"{endian}HHI", tail)
    if (group, element) != _SEQUENCE_DELIMITER or length != 0:
        raise TruncatedDicomError(
            f"{path}: encapsulated Pixel Data does not end with a sequence delimiter "
            "(truncated download?)"
        )


def _transfer_syntax(dataset: Dataset, path: Path) -> UID:
    from pydicom.uid import UID

    meta = getattr(dataset, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    if not uid:
        raise NotDicomError(f"{path}: file meta information has no TransferSyntaxUID")
    return UID(str(uid))


def _native_pixel_bytes(dataset: Dataset) -> int | None:
    """Bytes a native (uncompressed) Pixel Data value needs, or None if the header can't say."""
    try:
        rows = int(dataset.Rows)
        columns = int(dataset.Columns)
        bits = int(dataset.BitsAllocated)
    except (AttributeError, TypeError, ValueError):
        return None
    samples = int(dataset.get("SamplesPerPixel", 1) or 1)
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    total_bits = rows * columns * samples * frames * bits
    return math.ceil(total_bits / 8)


def require(dataset: Dataset, keyword: str, where: str) -> Any:
    """``dataset.<keyword>``, or MissingAttributeError naming ``where`` (a file or UID).

    Raises:
        MissingAttributeError: the attribute is absent or empty.
    """
    value = dataset.get(keyword)
    if value is None or (hasattr(value, "__len__") and len(value) == 0):
        raise MissingAttributeError(f"{where}: DICOM header lacks {keyword}")
    return value
