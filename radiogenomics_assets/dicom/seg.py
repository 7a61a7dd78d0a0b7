"""Decode a DICOM SEG onto the voxel grid of the CT series it segments.

Everything that can be checked from headers is checked before any pixel is read: the SEG is a
SEG of this patient, in the CT's frame of reference, referencing only this CT series and only
instances present in it, with the CT's matrix size, pixel spacing and orientation.

Frames are then placed by geometry: each frame's ImagePositionPatient must land on one CT
slice (and on its pixel grid in-plane). Where a frame also names its source CT instance
(DerivationImageSequence), that instance must be the slice the position lands on. Placing by
position works for SEGs written without per-frame source references too, and the
cross-check catches SEGs whose references and positions disagree.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from radiogenomics_assets.dicom.errors import (
    FrameOfReferenceMismatchError,
    InconsistentGeometryError,
    MaskOutsideVolumeError,
    MissingAttributeError,
    MissingReferencedInstanceError,
    PatientMismatchError,
    ReferencedSeriesMismatchError,
    UnsupportedDicomError,
    WrongModalityError,
)
from radiogenomics_assets.dicom.geometry import (
    SLICE_SPACING_RELATIVE_TOLERANCE,
    in_plane_tolerance_mm,
    same_orientation,
    same_pixel_spacing,
)
from radiogenomics_assets.dicom.headers import inspect_dicom_file, referenced_series_uid, require
from radiogenomics_assets.dicom.segments import (
    SelectionRule,
    choose_nodule_segment,
    segment_infos,
)
from radiogenomics_assets.dicom.series import CtVolume
from radiogenomics_assets.ids import validate_patient_id

# highdicom is imported inside the functions that use it: the code location imports this
# module, and loading it must not cost seconds.

if TYPE_CHECKING:
    import highdicom as hd
    from pydicom.dataset import Dataset

#: a FRACTIONAL segment's pixel is foreground at or above this fraction of its maximum
FRACTIONAL_THRESHOLD = 0.5


@dataclass(frozen=True, eq=False)
class NoduleMask:
    """The nodule segment on the CT grid."""

    #: (z, y, x) bool, the CT's shape, read-only
    mask: np.ndarray
    segment_number: int
    segment_label: str
    #: which step of the segment-choice rule picked it (see ``dicom.segments``)
    selection_rule: SelectionRule
    voxel_count: int
    volume_mm3: float
    seg_series_uid: str
    seg_sop_instance_uid: str


@dataclass(frozen=True)
class _Frame:
    index: int
    segment_number: int
    position: np.ndarray
    source_uids: tuple[str, ...]


def decode_segmentation(
    seg_path: Path | str,
    ct: CtVolume,
    *,
    patient_id: str | None = None,
    segment_number: int | None = None,
) -> NoduleMask:
    """Validate a SEG against ``ct`` and decode its nodule segment onto the CT grid.

    Args:
        seg_path: the DICOM SEG file.
        ct: the CT volume it must segment.
        patient_id: the patient both belong to; defaults to ``ct.patient_id``.
        segment_number: choose this segment instead of applying the rule in
            ``radiogenomics_assets.dicom.segments``.

    Returns:
        The nodule mask on the CT grid with its voxel count and volume.

    Raises:
        InvalidPatientIdError: ``patient_id`` is not a safe id.
        NotDicomError, TruncatedDicomError, MissingAttributeError: a bad file.
        WrongModalityError: the file is not a SEG.
        PatientMismatchError: the SEG's PatientID is not the patient's.
        FrameOfReferenceMismatchError: SEG and CT frames of reference differ.
        ReferencedSeriesMismatchError: the SEG references another series (or several:
            SeveralReferencedSeriesError).
        MissingReferencedInstanceError: referenced CT instances are absent from ``ct``.
        InconsistentGeometryError: matrix size, pixel spacing, orientation or frame
            positions disagree with the CT, or a frame's source reference contradicts its
            position.
        NoNoduleSegmentError, EmptySegmentError: from the segment choice.
        MaskOutsideVolumeError: foreground frames lie outside the CT's slice range.
        UnsupportedDicomError: a SEG highdicom cannot read, or of an unknown type.
    """
    if patient_id is not None:
        validate_patient_id(patient_id, where="decode_segmentation")
    patient = patient_id or ct.patient_id
    seg_path = Path(seg_path)
    header = inspect_dicom_file(seg_path)
    who = f"patient {patient}, " if patient else ""
    where = f"{who}SEG {seg_path} (series {header.series_uid})"
    if header.modality != "SEG":
        raise WrongModalityError(
            f"{where}: Modality is {header.modality!r}, expected 'SEG' "
            f"(SOP {header.sop_instance_uid})"
        )
    if patient and header.patient_id and header.patient_id != patient:
        raise PatientMismatchError(f"{where}: PatientID is {header.patient_id!r}, not {patient!r}")
    seg = _read_segmentation(seg_path, where)
    _check_references(seg, ct, where)
    _check_grid(seg, ct, where)
    frames = _frames(seg, where)
    pixels = _foreground_frames(seg, where)
    counts: dict[int, int] = defaultdict(int)
    for frame in frames:
        counts[frame.segment_number] += int(_frame_foreground(pixels, frame).sum())
    choice = choose_nodule_segment(segment_infos(seg), counts, where, segment_number)
    mask = _place_frames(
        [f for f in frames if f.segment_number == choice.segment.number], pixels, ct, where
    )
    mask.flags.writeable = False
    voxels = int(mask.sum())
    return NoduleMask(
        mask=mask,
        segment_number=choice.segment.number,
        segment_label=choice.segment.label,
        selection_rule=choice.rule,
        voxel_count=voxels,
        volume_mm3=voxels * ct.voxel_volume_mm3,
        seg_series_uid=header.series_uid,
        seg_sop_instance_uid=header.sop_instance_uid,
    )


def _read_segmentation(path: Path, where: str) -> hd.seg.Segmentation:
    import highdicom as hd

    try:
        return hd.seg.segread(path)
    except (
        AttributeError,
        IndexError,
        KeyError,
        RuntimeError,
        TypeError,
        ValueError,
        sqlite3.Error,  # highdicom indexes frames and references in an in-memory SQLite
    ) as error:
        raise UnsupportedDicomError(
            f"{where}: highdicom cannot read the SEG ({type(error).__name__}: {error})"
        ) from error


def _check_references(seg: Dataset, ct: CtVolume, where: str) -> None:
    frame_of_reference = str(require(seg, "FrameOfReferenceUID", where))
    if frame_of_reference != ct.frame_of_reference_uid:
        raise FrameOfReferenceMismatchError(
            f"{where}: FrameOfReferenceUID {frame_of_reference} differs from "
            f"{ct.describe()}'s {ct.frame_of_reference_uid}"
        )
    # A SEG without series references is placed by geometry alone (checked below).
    series = referenced_series_uid(seg, where)
    if series is not None and series != ct.series_uid:
        raise ReferencedSeriesMismatchError(
            f"{where}: references series {series}, but the CT is {ct.describe()}"
        )
    referenced: set[str] = set()
    for item in seg.get("ReferencedSeriesSequence", []):
        referenced.update(
            str(instance.ReferencedSOPInstanceUID)
            for instance in item.get("ReferencedInstanceSequence", [])
        )
    for item in seg.get("PerFrameFunctionalGroupsSequence", []):
        for derivation in item.get("DerivationImageSequence", []):
            referenced.update(
                str(source.ReferencedSOPInstanceUID)
                for source in derivation.get("SourceImageSequence", [])
            )
    missing = sorted(referenced - set(ct.sop_instance_uids))
    if missing:
        raise MissingReferencedInstanceError(
            f"{where}: {len(missing)} of {len(referenced)} referenced CT instances are not in "
            f"{ct.describe()} ({len(ct.sop_instance_uids)} slices), e.g. SOP "
            f"{', '.join(missing[:3])}"
        )


def _functional_group(seg: Dataset, frame_item: Dataset | None, keyword: str) -> Dataset | None:
    """A functional-group item, per-frame first, then shared (PS3.3 C.7.6.16)."""
    for container in (frame_item, *seg.get("SharedFunctionalGroupsSequence", [])):
        if container is not None and keyword in container:
            return container[keyword].value[0]
    return None


def _check_grid(seg: Dataset, ct: CtVolume, where: str) -> None:
    rows, columns = int(require(seg, "Rows", where)), int(require(seg, "Columns", where))
    if (rows, columns) != ct.shape[1:]:
        raise InconsistentGeometryError(
            f"{where}: frames are {rows}x{columns}, {ct.describe()} slices are "
            f"{ct.shape[1]}x{ct.shape[2]}"
        )
    ct_orientation = [*ct.direction[:, 0], *ct.direction[:, 1]]
    per_frame = seg.get("PerFrameFunctionalGroupsSequence", []) or [None]
    for index, item in enumerate(per_frame):
        measures = _functional_group(seg, item, "PixelMeasuresSequence")
        plane = _functional_group(seg, item, "PlaneOrientationSequence")
        if measures is None or plane is None:
            raise MissingAttributeError(
                f"{where}: frame {index + 1} has no PixelMeasuresSequence or "
                "PlaneOrientationSequence"
            )
        spacing = [float(v) for v in require(measures, "PixelSpacing", where)]
        if not same_pixel_spacing(spacing, ct.spacing[1:]):
            raise InconsistentGeometryError(
                f"{where}: frame {index + 1} PixelSpacing {spacing} differs from "
                f"{ct.describe()}'s {list(ct.spacing[1:])}"
            )
        orientation = [float(v) for v in require(plane, "ImageOrientationPatient", where)]
        if not same_orientation(orientation, ct_orientation):
            raise InconsistentGeometryError(
                f"{where}: frame {index + 1} ImageOrientationPatient {orientation} differs from "
                f"{ct.describe()}'s {[round(v, 6) for v in ct_orientation]}"
            )
        if item is None:
            break


def _frames(seg: Dataset, where: str) -> list[_Frame]:
    labelmap = str(seg.get("SegmentationType", "")) == "LABELMAP"
    frames = []
    for index, item in enumerate(seg.get("PerFrameFunctionalGroupsSequence", [])):
        position_item = _functional_group(seg, item, "PlanePositionSequence")
        if position_item is None:
            raise MissingAttributeError(f"{where}: frame {index + 1} has no PlanePositionSequence")
        position = np.array(
            [float(v) for v in require(position_item, "ImagePositionPatient", where)]
        )
        if labelmap:
            number = 0
        else:
            identification = _functional_group(seg, item, "SegmentIdentificationSequence")
            if identification is None:
                raise MissingAttributeError(
                    f"{where}: frame {index + 1} has no SegmentIdentificationSequence"
                )
            number = int(identification.ReferencedSegmentNumber)
        sources = tuple(
            str(source.ReferencedSOPInstanceUID)
            for derivation in item.get("DerivationImageSequence", [])
            for source in derivation.get("SourceImageSequence", [])
        )
        frames.append(_Frame(index, number, position, sources))
    if not frames:
        raise MissingAttributeError(f"{where}: the SEG has no PerFrameFunctionalGroupsSequence")
    if labelmap:
        # Every frame of a LABELMAP holds all segments; give each segment its own view.
        numbers = [info.number for info in segment_infos(seg)]
        frames = [
            _Frame(f.index, number, f.position, f.source_uids) for f in frames for number in numbers
        ]
    return frames


@dataclass(frozen=True)
class _Pixels:
    stored: np.ndarray
    kind: str
    maximum: float


def _foreground_frames(seg: Dataset, where: str) -> _Pixels:
    kind = str(seg.get("SegmentationType", ""))
    if kind not in {"BINARY", "FRACTIONAL", "LABELMAP"}:
        raise UnsupportedDicomError(f"{where}: unknown SegmentationType {kind!r}")
    try:
        stored = np.asarray(seg.pixel_array)
    except (NotImplementedError, RuntimeError, ValueError) as error:
        raise UnsupportedDicomError(f"{where}: pixels cannot be decoded: {error}") from error
    if stored.ndim == 2:
        stored = stored[np.newaxis]
    maximum = float(seg.get("MaximumFractionalValue", 1) or 1)
    return _Pixels(stored=stored, kind=kind, maximum=maximum)


def _frame_foreground(pixels: _Pixels, frame: _Frame) -> np.ndarray:
    values = pixels.stored[frame.index]
    if pixels.kind == "FRACTIONAL":
        return values >= FRACTIONAL_THRESHOLD * pixels.maximum
    if pixels.kind == "LABELMAP":
        return values == frame.segment_number
    return values > 0


def _place_frames(frames: list[_Frame], pixels: _Pixels, ct: CtVolume, where: str) -> np.ndarray:
    mask = np.zeros(ct.shape, dtype=bool)
    origin = np.asarray(ct.origin, dtype=np.float64)
    row, column, normal = (ct.direction[:, i] for i in range(3))
    dz = ct.spacing[0]
    slice_tolerance = max(SLICE_SPACING_RELATIVE_TOLERANCE * dz, 1e-3)
    plane_tolerance = in_plane_tolerance_mm(ct.spacing[1:])
    outside: list[tuple[int, float]] = []
    foreground_frames = 0
    for frame in frames:
        foreground = _frame_foreground(pixels, frame)
        if not foreground.any():
            continue
        foreground_frames += 1
        offset = frame.position - origin
        along = float(offset @ normal) / dz
        k = round(along)
        if not 0 <= k < ct.shape[0]:
            outside.append((frame.index + 1, float(offset @ normal)))
            continue
        if abs(along - k) * dz > slice_tolerance:
            raise InconsistentGeometryError(
                f"{where}: frame {frame.index + 1} lies {float(offset @ normal):.3f} mm along "
                f"the normal, between slices of {ct.describe()} (spacing {dz:.4f} mm)"
            )
        shift = (abs(float(offset @ row)), abs(float(offset @ column)))
        if max(shift) > plane_tolerance:
            raise InconsistentGeometryError(
                f"{where}: frame {frame.index + 1} is shifted ({shift[0]:.3f}, {shift[1]:.3f}) mm "
                f"in-plane from slice {k} of {ct.describe()}"
            )
        if frame.source_uids and ct.sop_instance_uids[k] not in frame.source_uids:
            raise InconsistentGeometryError(
                f"{where}: frame {frame.index + 1} references SOP {frame.source_uids[0]} but "
                f"lies on slice {k} of {ct.describe()}, SOP {ct.sop_instance_uids[k]}"
            )
        mask[k] |= foreground
    if outside:
        scope = (
            "the mask touches no CT slice"
            if len(outside) == foreground_frames
            else "part of the mask is cut off"
        )
        raise MaskOutsideVolumeError(
            f"{where}: {len(outside)} of {foreground_frames} foreground frames lie outside "
            f"{ct.describe()} ({scope}); frame {outside[0][0]} is {outside[0][1]:.2f} mm along "
            f"the normal from the first slice, the CT spans 0 .. {dz * (ct.shape[0] - 1):.2f} mm"
        )
    return mask
