"""Header-only inspection of DICOM files and the one verifier of a series' instances.

pydicom happily returns a partial dataset for a file cut short, so completeness is checked here
by hand: the header must parse up to the Pixel Data element, and that element's announced length
must fit in the file (and, for native encodings, hold every pixel the header describes). This
runs on headers alone, so whole downloads can be vetted before any pixel is decoded.

Every intake path (an NBIA zip, IDC objects, a local folder, the store's staged copy) verifies a
series with :class:`SeriesVerifier`, and reads a SEG's referenced series with
:func:`referenced_series_uid`, so one rule decides what a valid instance is.
"""

from __future__ import annotations

import math
import struct
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from radiogenomics_assets.dicom.errors import (
    DuplicateInstanceError,
    EmptySeriesError,
    MissingAttributeError,
    MixedSeriesError,
    NotDicomError,
    PatientMismatchError,
    SeveralReferencedSeriesError,
    TruncatedDicomError,
    WrongModalityError,
)
from radiogenomics_assets.ids import InvalidUidError, validate_uid

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
# What pydicom raises on a file that starts like DICOM but is truncated or malformed.
_MALFORMED = (EOFError, struct.error, OSError, ValueError, KeyError, IndexError)

#: Names a file in messages: its path under the user's folder, or archive member and series.
NameFn = Callable[[Path], str]


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
    #: how messages name the file (``str(path)`` unless the caller knows a better name)
    name: str


def inspect_dicom_file(
    path: Path | str, *, name: str | None = None, check_pixels: bool = True
) -> DicomHeader:
    """Read one file's header and check that the file is complete DICOM.

    Args:
        path: the file to inspect.
        name: how messages name the file (default: the path).
        check_pixels: also check that a complete Pixel Data element follows the header (a
            manifest scan, which reads no pixels, leaves that to the fetch).

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
    where = name or str(path)
    size = path.stat().st_size
    with open(path, "rb") as handle:
        try:
            dataset = pydicom.dcmread(handle, stop_before_pixels=True)
        except InvalidDicomError as error:
            raise NotDicomError(f"{where} is not a DICOM file: {error}") from error
        except _MALFORMED as error:
            raise TruncatedDicomError(
                f"{where}: DICOM header could not be parsed to its end "
                f"({type(error).__name__}: {error})"
            ) from error
        if check_pixels:
            _check_pixel_data_complete(handle, dataset, where, size)
    missing = [
        keyword
        for keyword in ("SOPInstanceUID", "SeriesInstanceUID", "Modality")
        if not str(dataset.get(keyword, "") or "").strip()
    ]
    if missing:
        raise MissingAttributeError(f"{where}: DICOM header lacks {', '.join(missing)}")
    return DicomHeader(
        path=path,
        dataset=dataset,
        sop_instance_uid=str(dataset.SOPInstanceUID),
        sop_class_uid=str(dataset.get("SOPClassUID", "")),
        series_uid=str(dataset.SeriesInstanceUID),
        study_uid=str(dataset.get("StudyInstanceUID", "")),
        modality=str(dataset.Modality),
        patient_id=str(dataset.get("PatientID", "") or ""),
        name=where,
    )


def referenced_series_uid(dataset: Dataset, where: str) -> str | None:
    """The one series a SEG was drawn on, from its Common Instance Reference module.

    Reads ``ReferencedSeriesSequence`` and, for references into other studies,
    ``StudiesContainingOtherReferencedInstancesSequence``. ``None`` when it names none.

    Raises:
        SeveralReferencedSeriesError: it names more than one series (which one the mask
            belongs to would be a guess).
    """
    items = list(dataset.get("ReferencedSeriesSequence", None) or [])
    for study in dataset.get("StudiesContainingOtherReferencedInstancesSequence", None) or []:
        items.extend(study.get("ReferencedSeriesSequence", None) or [])
    found = sorted({str(item.SeriesInstanceUID) for item in items if item.get("SeriesInstanceUID")})
    if len(found) > 1:
        raise SeveralReferencedSeriesError(
            f"{where}: the SEG references {len(found)} series {found}; expected exactly one"
        )
    return found[0] if found else None


class SeriesVerifier:
    """Checks the instances of one series, one file at a time.

    An instance passes when it is complete DICOM, carries the expected SeriesInstanceUID (and
    Modality and PatientID, when given), a well-formed SOPInstanceUID, and no earlier file of
    the series carried that SOPInstanceUID.

    Args:
        series_uid: the SeriesInstanceUID every instance must carry.
        modality: the Modality every instance must carry, if known.
        patient_id: the PatientID every instance must carry, if known.
    """

    def __init__(
        self, series_uid: str, *, modality: str | None = None, patient_id: str | None = None
    ) -> None:
        self.series_uid = series_uid
        self.modality = modality
        self.patient_id = patient_id
        self.seen: dict[str, str] = {}

    def add(self, path: Path, *, name: str | None = None) -> DicomHeader:
        """Inspect ``path`` (named ``name`` in messages) and check it; see :meth:`check`."""
        return self.check(inspect_dicom_file(path, name=name))

    def check(self, header: DicomHeader) -> DicomHeader:
        """Check an inspected file against the series and the files checked before it.

        Raises:
            MixedSeriesError: the file belongs to another series.
            WrongModalityError: its Modality is not the expected one.
            PatientMismatchError: its PatientID is not the expected one.
            NotDicomError: its SOPInstanceUID is not a well-formed UID.
            DuplicateInstanceError: an earlier file carried the same SOPInstanceUID.
        """
        where = header.name
        if header.series_uid != self.series_uid:
            raise MixedSeriesError(
                f"{where} belongs to series {header.series_uid!r}, not {self.series_uid}"
            )
        if self.modality is not None and header.modality != self.modality:
            raise WrongModalityError(
                f"{where}: Modality {header.modality!r}, expected {self.modality!r} "
                f"(series {self.series_uid})"
            )
        if self.patient_id is not None and header.patient_id != self.patient_id:
            raise PatientMismatchError(
                f"{where} of series {self.series_uid} belongs to patient "
                f"{header.patient_id!r}, not {self.patient_id}"
            )
        try:
            validate_uid(header.sop_instance_uid, what=f"SOPInstanceUID in {where}")
        except InvalidUidError as error:
            raise NotDicomError(str(error)) from error
        first = self.seen.get(header.sop_instance_uid)
        if first is not None:
            raise DuplicateInstanceError(
                f"SOPInstanceUID {header.sop_instance_uid} of series {self.series_uid} is in "
                f"both {first} and {where}"
            )
        self.seen[header.sop_instance_uid] = where
        return header

    @property
    def count(self) -> int:
        return len(self.seen)


def check_series_files(
    paths: Sequence[Path | str],
    expected_series_uid: str | None = None,
    *,
    expected_modality: str | None = None,
    expected_patient_id: str | None = None,
    name: NameFn | None = None,
) -> list[DicomHeader]:
    """Inspect every file of a series and verify them with one :class:`SeriesVerifier`.

    Args:
        paths: the files of the series.
        expected_series_uid: the SeriesInstanceUID they must all carry; ``None`` accepts
            whichever single UID they share.
        expected_modality, expected_patient_id: what every file must carry, if given.
        name: how messages name a file (default: its path).

    Returns:
        The headers, in the order of ``paths``.

    Raises:
        EmptySeriesError: ``paths`` is empty.
        NotDicomError, TruncatedDicomError, MissingAttributeError: from
            :func:`inspect_dicom_file`, naming the file.
        MixedSeriesError: the files mix several series (names the files and UIDs).
        WrongModalityError, PatientMismatchError, DuplicateInstanceError: from the verifier.
    """
    if not paths:
        raise EmptySeriesError(f"no DICOM files given for series {expected_series_uid or '(any)'}")
    headers = [
        inspect_dicom_file(p, name=name(Path(p)) if name else None) for p in map(Path, paths)
    ]
    if expected_series_uid is None:
        counts = Counter(h.series_uid for h in headers)
        if len(counts) > 1:
            examples = {uid: next(h.name for h in headers if h.series_uid == uid) for uid in counts}
            detail = "; ".join(
                f"{uid} ({count} files, e.g. {examples[uid]})" for uid, count in counts.items()
            )
            raise MixedSeriesError(f"files mix {len(counts)} series: {detail}")
        expected_series_uid = headers[0].series_uid
    verifier = SeriesVerifier(
        expected_series_uid, modality=expected_modality, patient_id=expected_patient_id
    )
    for header in headers:
        verifier.check(header)
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
            referenced_series_uid=referenced_series_uid(dataset, header.name),
        )


def read_series_instances(
    paths: Sequence[Path],
    *,
    expected_series_uid: str,
    expected_modality: str,
    expected_patient_id: str | None = None,
    name: NameFn | None = None,
) -> list[InstanceHeader]:
    """Verify every file of one series, in path order, and return its raw-table fields.

    Raises:
        EmptySeriesError, NotDicomError, TruncatedDicomError, MissingAttributeError,
        MixedSeriesError, WrongModalityError, PatientMismatchError, DuplicateInstanceError:
            from :func:`check_series_files`, naming the file.
        SeveralReferencedSeriesError: a SEG instance references more than one series.
    """
    headers = check_series_files(
        sorted(Path(p) for p in paths),
        expected_series_uid,
        expected_modality=expected_modality,
        expected_patient_id=expected_patient_id,
        name=name,
    )
    return [InstanceHeader.from_header(h) for h in headers]


def _check_pixel_data_complete(handle: BinaryIO, dataset: Dataset, path: str, size: int) -> None:
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


def _check_encapsulated_end(handle: BinaryIO, path: str, size: int, endian: str) -> None:
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


def _transfer_syntax(dataset: Dataset, path: str) -> UID:
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
