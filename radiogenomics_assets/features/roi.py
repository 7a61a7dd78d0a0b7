"""Regions of interest around a nodule mask: physical-margin dilation, bounding boxes, crops.

All arrays are (z, y, x) with spacing (z, y, x) in mm, like ``CtVolume``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from radiogenomics_assets.dicom.errors import (
    CropTooSmallError,
    EmptySegmentError,
    InconsistentGeometryError,
)

# scipy is imported inside the functions that use it: the code location imports this
# module, and loading it must not cost seconds.

Box = tuple[slice, slice, slice]


def bounding_box(mask: np.ndarray, *, where: str = "mask") -> Box:
    """The smallest (z, y, x) box of slices holding every foreground voxel.

    Raises:
        EmptySegmentError: the mask has no foreground voxel.
    """
    _check_3d(mask, where)
    index = np.nonzero(mask)
    if index[0].size == 0:
        raise EmptySegmentError(f"{where}: mask of shape {mask.shape} has no foreground voxel")
    return tuple(slice(int(i.min()), int(i.max()) + 1) for i in index)  # type: ignore[return-value]


def margin_voxels(spacing: Sequence[float], margin_mm: float) -> tuple[int, int, int]:
    """Voxels per axis that a ``margin_mm`` reach can cover (rounded up)."""
    _check_spacing(spacing)
    _check_margin(margin_mm)
    return tuple(math.ceil(margin_mm / float(s) - 1e-9) for s in spacing)  # type: ignore[return-value]


def expand_box(box: Box, pad: Sequence[int], shape: Sequence[int]) -> Box:
    """``box`` grown by ``pad`` voxels per axis, clipped to ``shape``."""
    return tuple(  # type: ignore[return-value]
        slice(max(b.start - p, 0), min(b.stop + p, n))
        for b, p, n in zip(box, pad, shape, strict=True)
    )


def dilate_mask(
    mask: np.ndarray, spacing: Sequence[float], margin_mm: float, *, where: str = "mask"
) -> np.ndarray:
    """Every voxel whose centre is within ``margin_mm`` (Euclidean, in mm) of a mask voxel.

    Anisotropic spacing is honoured: a 3 mm margin reaches 4 voxels of 0.7 mm in-plane but
    only 1 slice of 2.5 mm. The distance transform runs on the mask's bounding box plus the
    margin, not the whole CT. ``margin_mm == 0`` returns a copy of the mask.

    Raises:
        EmptySegmentError: the mask has no foreground voxel.
        ValueError: a negative or non-finite margin, or a bad spacing.
    """
    from scipy import ndimage

    pad = margin_voxels(spacing, margin_mm)
    box = bounding_box(mask, where=where)
    result = np.zeros(mask.shape, dtype=bool)
    if margin_mm == 0:
        result[box] = mask[box]
        return result
    grown = expand_box(box, pad, mask.shape)
    distance = ndimage.distance_transform_edt(
        ~mask[grown].astype(bool), sampling=[float(s) for s in spacing]
    )
    # Tolerance so that a margin of exactly k voxel widths includes the k-th voxel.
    result[grown] = distance <= margin_mm * (1 + 1e-9)
    return result


def square_crop(
    box: Box,
    spacing: Sequence[float],
    margin_mm: float,
    shape: Sequence[int],
    *,
    where: str = "mask",
) -> tuple[slice, slice]:
    """An in-plane (y, x) crop, square in mm, centred on ``box`` and reaching ``margin_mm``
    beyond its larger side; shifted inwards where it would leave the image.

    A square crop keeps the nodule's aspect ratio when the crop is resized to a square
    network input.

    Raises:
        CropTooSmallError: the image is smaller than the crop in y or x.
        ValueError: a negative margin or a bad spacing.
    """
    _check_spacing(spacing)
    _check_margin(margin_mm)
    sy, sx = float(spacing[1]), float(spacing[2])
    side_mm = max((box[1].stop - box[1].start) * sy, (box[2].stop - box[2].start) * sx)
    side_mm += 2 * margin_mm
    crops = []
    for axis, step, limit in ((box[1], sy, int(shape[1])), (box[2], sx, int(shape[2]))):
        size = math.ceil(side_mm / step - 1e-9)
        if size > limit:
            raise CropTooSmallError(
                f"{where}: a {side_mm:.1f} mm crop ({size} pixels) around the nodule does not "
                f"fit in a slice of {int(shape[1])}x{int(shape[2])} pixels "
                f"(spacing {sy:.3f} x {sx:.3f} mm); lower the crop margin ({margin_mm} mm)"
            )
        centre = (axis.start + axis.stop) / 2
        start = min(max(round(centre - size / 2), 0), limit - size)
        crops.append(slice(start, start + size))
    return crops[0], crops[1]


def _check_3d(mask: np.ndarray, where: str) -> None:
    if mask.ndim != 3:
        raise InconsistentGeometryError(f"{where}: expected a 3D (z, y, x) mask, got {mask.shape}")


def _check_spacing(spacing: Sequence[float]) -> None:
    values = [float(s) for s in spacing]
    if len(values) != 3 or not all(math.isfinite(s) and s > 0 for s in values):
        raise ValueError(f"spacing must be three positive mm values (z, y, x), got {values}")


def _check_margin(margin_mm: float) -> None:
    if not math.isfinite(margin_mm) or margin_mm < 0:
        raise ValueError(f"margin_mm must be a finite number >= 0, got {margin_mm!r}")
