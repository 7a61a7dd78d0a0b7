from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from radiogenomics_assets.dicom.errors import CropTooSmallError, EmptySegmentError
from radiogenomics_assets.features.roi import (
    bounding_box,
    dilate_mask,
    margin_voxels,
    square_crop,
)


def brute_force_dilation(
    mask: np.ndarray, spacing: tuple[float, float, float], margin: float
) -> np.ndarray:
    points = np.argwhere(np.ones_like(mask)) * spacing
    inside = np.argwhere(mask) * spacing
    return (cdist(points, inside).min(axis=1) <= margin + 1e-9).reshape(mask.shape)


@pytest.mark.parametrize("margin", [0.0, 0.7, 1.5, 3.0, 4.2])
def test_dilation_matches_brute_force_distances(margin: float) -> None:
    rng = np.random.default_rng(3)
    mask = np.zeros((9, 14, 13), dtype=bool)
    mask[3:6, 5:9, 4:7] = rng.random((3, 4, 3)) > 0.3
    mask[4, 6, 5] = True
    spacing = (2.5, 0.7, 0.9)
    np.testing.assert_array_equal(
        dilate_mask(mask, spacing, margin), brute_force_dilation(mask, spacing, margin)
    )


def test_dilation_is_clipped_at_the_volume_edge() -> None:
    mask = np.zeros((3, 5, 5), dtype=bool)
    mask[0, 0, 0] = True
    dilated = dilate_mask(mask, (1.0, 1.0, 1.0), 1.0)
    assert dilated.sum() == 4  # itself and its three neighbours inside the volume


def test_margin_reach_per_axis_and_bad_arguments() -> None:
    assert margin_voxels((2.5, 0.7, 0.7), 3.0) == (2, 5, 5)
    assert margin_voxels((1.0, 1.0, 1.0), 3.0) == (3, 3, 3)
    with pytest.raises(ValueError, match="margin_mm must be a finite number >= 0, got -1"):
        dilate_mask(np.ones((2, 2, 2), bool), (1, 1, 1), -1)
    with pytest.raises(ValueError, match="spacing must be three positive"):
        margin_voxels((0.0, 1.0, 1.0), 1.0)


def test_bounding_box_and_empty_mask() -> None:
    mask = np.zeros((4, 6, 8), dtype=bool)
    mask[1:3, 2, 3:7] = True
    assert bounding_box(mask) == (slice(1, 3), slice(2, 3), slice(3, 7))
    with pytest.raises(EmptySegmentError, match=r"R01-001: mask of shape \(4, 6, 8\)"):
        bounding_box(np.zeros((4, 6, 8), bool), where="R01-001")


def test_square_crop_is_square_in_mm_and_stays_inside() -> None:
    box = (slice(0, 1), slice(10, 14), slice(20, 30))  # 4 x 10 pixels
    y, x = square_crop(box, (1.0, 1.0, 0.5), 2.0, (1, 64, 64))
    # larger side = max(4 * 1.0, 10 * 0.5) = 5 mm, + 2 x 2 mm = 9 mm
    assert (y.stop - y.start, x.stop - x.start) == (9, 18)
    assert y.start <= 10 and y.stop >= 14 and x.start <= 20 and x.stop >= 30
    edge = (slice(0, 1), slice(0, 3), slice(60, 64))
    y, x = square_crop(edge, (1.0, 1.0, 1.0), 3.0, (1, 64, 64))
    assert (y.start, x.stop) == (0, 64)
    assert (y.stop - y.start, x.stop - x.start) == (10, 10)


def test_crop_larger_than_the_slice() -> None:
    box = (slice(0, 1), slice(20, 28), slice(20, 28))
    with pytest.raises(
        CropTooSmallError, match=r"R01-001: a 46\.4 mm crop \(58 pixels\).*48x48 pixels"
    ):
        square_crop(box, (1.0, 0.8, 0.8), 20.0, (1, 48, 48), where="R01-001")
