"""Slice geometry in the patient (LPS) frame: orientation, slice order and slice spacing.

Pure numpy on header values, shared by the CT reader and the SEG decoder so that both judge
"same orientation" and "same position" with the same tolerances.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from radiogenomics_assets.dicom.errors import (
    DuplicateSlicePositionError,
    InconsistentGeometryError,
    IrregularSliceSpacingError,
)

#: Direction cosines are compared component-wise with this absolute tolerance.
ORIENTATION_TOLERANCE = 1e-4
#: Pixel spacings are compared with this relative tolerance.
PIXEL_SPACING_RELATIVE_TOLERANCE = 1e-4
#: Default allowed deviation of one slice gap from the median gap, as a fraction of it. Scanners
#: round positions (to 0.01 mm or so), while a missing slice deviates by 100%.
SLICE_SPACING_RELATIVE_TOLERANCE = 0.05
#: Slices closer than this along the normal (mm) count as the same position.
DUPLICATE_POSITION_MM = 1e-3


@dataclass(frozen=True)
class Orientation:
    """Unit vectors (LPS) of increasing column index, increasing row index, and the normal."""

    row: np.ndarray
    column: np.ndarray
    normal: np.ndarray

    def direction_matrix(self) -> np.ndarray:
        """3x3 matrix whose columns are the x, y, z axes of a (z, y, x) array (ITK convention)."""
        return np.column_stack([self.row, self.column, self.normal])


@dataclass(frozen=True)
class SliceStack:
    """Slices sorted along the normal: which input goes where, and the gap between them."""

    order: tuple[int, ...]
    spacing: float
    #: position of each sorted slice along the normal (mm)
    offsets: np.ndarray


def orientation_from_iop(values: Sequence[float], where: str) -> Orientation:
    """Validated unit vectors from an ImageOrientationPatient value.

    Raises:
        InconsistentGeometryError: not six numbers, or not two orthogonal unit vectors.
    """
    array = np.asarray([float(v) for v in values], dtype=np.float64)
    if array.shape != (6,):
        raise InconsistentGeometryError(
            f"{where}: ImageOrientationPatient has {array.size} values, expected 6"
        )
    row, column = array[:3], array[3:]
    if (
        abs(np.linalg.norm(row) - 1) > 1e-3
        or abs(np.linalg.norm(column) - 1) > 1e-3
        or abs(float(row @ column)) > 1e-3
    ):
        raise InconsistentGeometryError(
            f"{where}: ImageOrientationPatient {array.tolist()} is not two orthogonal unit vectors"
        )
    row = row / np.linalg.norm(row)
    column = column / np.linalg.norm(column)
    return Orientation(row=row, column=column, normal=np.cross(row, column))


def same_orientation(a: Sequence[float], b: Sequence[float]) -> bool:
    return bool(
        np.allclose(
            np.asarray(a, float), np.asarray(b, float), atol=ORIENTATION_TOLERANCE, rtol=0.0
        )
    )


def same_pixel_spacing(a: Sequence[float], b: Sequence[float]) -> bool:
    return bool(
        np.allclose(
            np.asarray(a, float),
            np.asarray(b, float),
            rtol=PIXEL_SPACING_RELATIVE_TOLERANCE,
            atol=0.0,
        )
    )


def in_plane_tolerance_mm(pixel_spacing: Sequence[float]) -> float:
    """How far (mm) two slice origins may drift in-plane and still count as one stack."""
    return 0.05 * float(min(pixel_spacing))


def stack_slices(
    positions: np.ndarray,
    orientation: Orientation,
    pixel_spacing: Sequence[float],
    labels: Sequence[str],
    where: str,
    *,
    relative_tolerance: float = SLICE_SPACING_RELATIVE_TOLERANCE,
    single_slice_spacing: float | None = None,
) -> SliceStack:
    """Sort slices along the normal and check they form one regular stack.

    Args:
        positions: (n, 3) ImagePositionPatient of each slice.
        orientation: the shared orientation.
        pixel_spacing: (row spacing, column spacing) in mm, for the in-plane tolerance.
        labels: one name per slice (file or SOP UID) for messages.
        where: patient/series description for messages.
        relative_tolerance: allowed deviation of a gap from the median gap, as a fraction.
        single_slice_spacing: the spacing to report when there is only one slice.

    Raises:
        InconsistentGeometryError: slices are shifted in-plane (gantry tilt, shear), or a
            single slice has no known thickness.
        DuplicateSlicePositionError: two slices share a position along the normal.
        IrregularSliceSpacingError: a gap deviates from the median gap beyond tolerance.
    """
    positions = np.asarray(positions, dtype=np.float64)
    offsets = positions @ orientation.normal
    order = np.argsort(offsets, kind="stable")
    offsets = offsets[order]
    in_plane = positions[order] @ np.column_stack([orientation.row, orientation.column])
    drift = np.abs(in_plane - in_plane[0]).max(axis=1)
    worst = int(np.argmax(drift))
    if drift[worst] > in_plane_tolerance_mm(pixel_spacing):
        raise InconsistentGeometryError(
            f"{where}: slice {labels[order[worst]]} is shifted {drift[worst]:.3f} mm in-plane "
            f"from slice {labels[order[0]]}; slices are not stacked along the normal "
            "(gantry tilt or sheared volume)"
        )
    if len(offsets) == 1:
        if single_slice_spacing is None or single_slice_spacing <= 0:
            raise InconsistentGeometryError(
                f"{where}: a single slice ({labels[0]}) without SpacingBetweenSlices or "
                "SliceThickness has no slice spacing"
            )
        return SliceStack(
            order=tuple(int(i) for i in order), spacing=single_slice_spacing, offsets=offsets
        )
    gaps = np.diff(offsets)
    duplicate = np.flatnonzero(gaps < DUPLICATE_POSITION_MM)
    if duplicate.size:
        i = int(duplicate[0])
        raise DuplicateSlicePositionError(
            f"{where}: slices {labels[order[i]]} and {labels[order[i + 1]]} are both at "
            f"{offsets[i]:.3f} mm along the normal ({duplicate.size} duplicated position(s))"
        )
    spacing = float(np.median(gaps))
    tolerance = max(relative_tolerance * spacing, 1e-3)
    deviation = np.abs(gaps - spacing)
    bad = np.flatnonzero(deviation > tolerance)
    if bad.size:
        i = int(bad[np.argmax(deviation[bad])])
        raise IrregularSliceSpacingError(
            f"{where}: gap of {gaps[i]:.4f} mm between slices {labels[order[i]]} and "
            f"{labels[order[i + 1]]} deviates from the median spacing {spacing:.4f} mm by more "
            f"than {tolerance:.4f} mm ({bad.size} irregular gap(s) among {gaps.size}; missing "
            "or mixed slices?)"
        )
    return SliceStack(order=tuple(int(i) for i in order), spacing=spacing, offsets=offsets)
