"""Read one CT series into a Hounsfield-unit volume, after validating every header.

Order of work: inspect all headers (complete DICOM, one CT series, one patient, one frame of
reference, one orientation, one pixel grid, a regular stack of slices), and only then decode
pixels. A bad series therefore fails fast, with a message naming the file or UID at fault.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from radiogenomics_assets.dicom.errors import (
    FrameOfReferenceMismatchError,
    InconsistentGeometryError,
    PatientMismatchError,
    UnsupportedDicomError,
)
from radiogenomics_assets.dicom.geometry import (
    SLICE_SPACING_RELATIVE_TOLERANCE,
    orientation_from_iop,
    same_orientation,
    same_pixel_spacing,
    stack_slices,
)
from radiogenomics_assets.dicom.headers import DicomHeader, check_series_files, require
from radiogenomics_assets.ids import validate_patient_id

# SimpleITK and pydicom is imported inside the functions that use it: the code location imports this
# module, and loading it must not cost seconds.

if TYPE_CHECKING:
    import SimpleITK as sitk


@dataclass(frozen=True, eq=False)
class CtVolume:
    """A CT series on its voxel grid, in HU, with the geometry to place it in LPS space.

    ``hu`` is read-only, indexed (z, y, x): z follows the slice normal (increasing position),
    y the rows, x the columns. Voxel (k, j, i) sits at
    ``origin + direction @ (i * spacing[2], j * spacing[1], k * spacing[0])``.
    """

    hu: np.ndarray
    #: (z, y, x) voxel size in mm: slice gap, row spacing, column spacing
    spacing: tuple[float, float, float]
    #: (x, y, z) LPS position in mm of the centre of voxel (0, 0, 0)
    origin: tuple[float, float, float]
    #: 3x3, columns are the LPS directions of the x, y and z array axes
    direction: np.ndarray
    series_uid: str
    frame_of_reference_uid: str
    #: SOPInstanceUID of each slice, in z order
    sop_instance_uids: tuple[str, ...]
    patient_id: str | None
    study_uid: str = ""
    #: the file each slice came from, in z order
    paths: tuple[Path, ...] = field(default=())

    @property
    def shape(self) -> tuple[int, int, int]:
        z, y, x = self.hu.shape
        return (int(z), int(y), int(x))

    @property
    def voxel_volume_mm3(self) -> float:
        return float(np.prod(self.spacing))

    def describe(self) -> str:
        """Patient and series, for error messages."""
        who = f"patient {self.patient_id}, " if self.patient_id else ""
        return f"{who}CT series {self.series_uid}"

    def to_sitk(self) -> sitk.Image:
        """The HU volume as a SimpleITK image with this volume's spacing, origin and direction."""
        return self.image_like(self.hu)

    def image_like(self, array: np.ndarray) -> sitk.Image:
        """Any (z, y, x) array of this volume's shape as a SimpleITK image on this grid.

        Raises:
            InconsistentGeometryError: the array's shape is not the volume's.
        """
        import SimpleITK as sitk

        if tuple(array.shape) != self.shape:
            raise InconsistentGeometryError(
                f"{self.describe()}: array of shape {tuple(array.shape)} does not fit the CT "
                f"grid {self.shape}"
            )
        image = sitk.GetImageFromArray(np.ascontiguousarray(array))
        image.SetSpacing(tuple(float(s) for s in reversed(self.spacing)))
        image.SetOrigin(tuple(float(o) for o in self.origin))
        image.SetDirection(tuple(float(d) for d in self.direction.ravel()))
        return image


def read_ct_series(
    paths: Sequence[Path | str],
    *,
    patient_id: str | None = None,
    expected_series_uid: str | None = None,
    spacing_tolerance: float = SLICE_SPACING_RELATIVE_TOLERANCE,
) -> CtVolume:
    """Validate a CT series' headers, then decode it to a float32 HU volume in (z, y, x).

    Args:
        paths: every file of the series, in any order.
        patient_id: the patient it must belong to (checked against PatientID); ``None``
            accepts whichever single PatientID the files share.
        expected_series_uid: the SeriesInstanceUID the files must carry, if known.
        spacing_tolerance: allowed deviation of a slice gap from the median gap, as a
            fraction of the median gap.

    Returns:
        The volume, slices sorted along the normal.

    Raises:
        InvalidPatientIdError: ``patient_id`` is not a safe id.
        EmptySeriesError, NotDicomError, TruncatedDicomError, MissingAttributeError,
        MixedSeriesError, DuplicateInstanceError: from the header checks.
        WrongModalityError: a file's Modality is not CT.
        PatientMismatchError: PatientIDs differ from ``patient_id`` or among the files.
        FrameOfReferenceMismatchError: the files span several FrameOfReferenceUIDs.
        InconsistentGeometryError: orientation, pixel spacing or matrix size differ, or
            slices are shifted in-plane.
        DuplicateSlicePositionError, IrregularSliceSpacingError: from the slice stacking.
        UnsupportedDicomError: multi-frame files, or pixels pydicom cannot decode.
    """
    if patient_id is not None:
        validate_patient_id(patient_id, where="read_ct_series")
    headers = check_series_files(
        paths, expected_series_uid, expected_modality="CT", expected_patient_id=patient_id
    )
    series_uid = headers[0].series_uid
    where = (
        f"patient {patient_id}, CT series {series_uid}"
        if patient_id
        else (f"CT series {series_uid}")
    )
    _check_frames_and_patient(headers, patient_id, where)
    frame_of_reference = _single_frame_of_reference(headers, where)
    grid = _check_common_grid(headers, where)
    orientation = orientation_from_iop(grid.orientation, where)
    positions = np.array(
        [
            [float(v) for v in require(h.dataset, "ImagePositionPatient", str(h.path))]
            for h in headers
        ]
    )
    if positions.shape[1:] != (3,):
        raise InconsistentGeometryError(f"{where}: ImagePositionPatient must hold 3 values")
    single_spacing = _declared_slice_spacing(headers[0]) if len(headers) == 1 else None
    stack = stack_slices(
        positions,
        orientation,
        grid.pixel_spacing,
        [str(h.path) for h in headers],
        where,
        relative_tolerance=spacing_tolerance,
        single_slice_spacing=single_spacing,
    )
    ordered = [headers[i] for i in stack.order]
    hu = np.empty((len(ordered), grid.rows, grid.columns), dtype=np.float32)
    for index, header in enumerate(ordered):
        hu[index] = _decode_hu(header, grid.rows, grid.columns)
    hu.flags.writeable = False
    direction = orientation.direction_matrix()
    direction.flags.writeable = False
    first = positions[stack.order[0]]
    return CtVolume(
        hu=hu,
        spacing=(stack.spacing, float(grid.pixel_spacing[0]), float(grid.pixel_spacing[1])),
        origin=(float(first[0]), float(first[1]), float(first[2])),
        direction=direction,
        series_uid=series_uid,
        frame_of_reference_uid=frame_of_reference,
        sop_instance_uids=tuple(h.sop_instance_uid for h in ordered),
        patient_id=patient_id or (headers[0].patient_id or None),
        study_uid=headers[0].study_uid,
        paths=tuple(h.path for h in ordered),
    )


@dataclass(frozen=True)
class _Grid:
    rows: int
    columns: int
    pixel_spacing: tuple[float, float]
    orientation: tuple[float, ...]


def _check_frames_and_patient(
    headers: Sequence[DicomHeader], patient_id: str | None, where: str
) -> None:
    """What the series verifier leaves to a CT reader: single frames, and with no expected
    patient, one PatientID among the files."""
    for header in headers:
        if int(header.dataset.get("NumberOfFrames", 1) or 1) > 1:
            raise UnsupportedDicomError(
                f"{where}: {header.path} is a multi-frame image "
                f"({header.dataset.NumberOfFrames} frames); only single-frame CT is supported"
            )
    if patient_id is None:
        ids = Counter(h.patient_id for h in headers)
        if len(ids) > 1:
            raise PatientMismatchError(f"{where}: files mix PatientIDs {dict(ids)}")


def _single_frame_of_reference(headers: Sequence[DicomHeader], where: str) -> str:
    uids = Counter(str(require(h.dataset, "FrameOfReferenceUID", str(h.path))) for h in headers)
    if len(uids) > 1:
        raise FrameOfReferenceMismatchError(
            f"{where}: slices span {len(uids)} FrameOfReferenceUIDs {dict(uids)}"
        )
    return next(iter(uids))


def _check_common_grid(headers: Sequence[DicomHeader], where: str) -> _Grid:
    first = headers[0]
    reference = _Grid(
        rows=int(require(first.dataset, "Rows", str(first.path))),
        columns=int(require(first.dataset, "Columns", str(first.path))),
        pixel_spacing=tuple(  # type: ignore[arg-type]
            float(v) for v in require(first.dataset, "PixelSpacing", str(first.path))
        ),
        orientation=tuple(
            float(v) for v in require(first.dataset, "ImageOrientationPatient", str(first.path))
        ),
    )
    if len(reference.pixel_spacing) != 2 or min(reference.pixel_spacing) <= 0:
        raise InconsistentGeometryError(
            f"{where}: {first.path} has invalid PixelSpacing {list(reference.pixel_spacing)}"
        )
    for header in headers[1:]:
        name = str(header.path)
        size = (
            int(require(header.dataset, "Rows", name)),
            int(require(header.dataset, "Columns", name)),
        )
        if size != (reference.rows, reference.columns):
            raise InconsistentGeometryError(
                f"{where}: {name} is {size[0]}x{size[1]} pixels, {first.path} is "
                f"{reference.rows}x{reference.columns}"
            )
        spacing = [float(v) for v in require(header.dataset, "PixelSpacing", name)]
        if not same_pixel_spacing(spacing, reference.pixel_spacing):
            raise InconsistentGeometryError(
                f"{where}: {name} has PixelSpacing {spacing}, {first.path} has "
                f"{list(reference.pixel_spacing)}"
            )
        orientation = [float(v) for v in require(header.dataset, "ImageOrientationPatient", name)]
        if not same_orientation(orientation, reference.orientation):
            raise InconsistentGeometryError(
                f"{where}: {name} has ImageOrientationPatient {orientation}, {first.path} has "
                f"{list(reference.orientation)}"
            )
    return reference


def _declared_slice_spacing(header: DicomHeader) -> float | None:
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        value = header.dataset.get(keyword)
        if value not in (None, ""):
            return abs(float(value))
    return None


def _decode_hu(header: DicomHeader, rows: int, columns: int) -> np.ndarray:
    import pydicom
    from pydicom.pixels import apply_modality_lut

    dataset = pydicom.dcmread(header.path)
    try:
        stored = dataset.pixel_array
    except (NotImplementedError, RuntimeError, ValueError) as error:
        syntax = dataset.file_meta.get("TransferSyntaxUID", "?")
        raise UnsupportedDicomError(
            f"{header.path} (SOP {header.sop_instance_uid}): pixels cannot be decoded "
            f"(transfer syntax {syntax}): {error}"
        ) from error
    if stored.shape != (rows, columns):
        raise UnsupportedDicomError(
            f"{header.path}: decoded pixels have shape {stored.shape}, expected "
            f"({rows}, {columns}) (colour or multi-sample CT?)"
        )
    return np.asarray(apply_modality_lut(stored, dataset), dtype=np.float32)
