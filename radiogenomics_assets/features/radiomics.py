"""The paper's 107 PyRadiomics features of a nodule and its immediate surroundings.

Choices (the paper names none beyond "107 features", "nodule and its immediate surrounding
tissues"):

- Feature classes: pyradiomics' defaults on the original image only: firstorder 18, shape 14,
  GLCM 24, GLRLM 16, GLSZM 16, GLDM 14, NGTDM 5 = 107.
- Settings: pyradiomics' defaults (``binWidth`` 25 HU, no resampling, no intensity
  normalisation, ``label`` 1, ``padDistance`` 5, 3D). HU are absolute, so a fixed bin width
  keeps bins comparable across patients; resampling is available but off by default, as in
  pyradiomics.
- ROI: intensity and texture classes see the nodule mask dilated by ``margin_mm``
  (default :data:`DEFAULT_MARGIN_MM` = 3 mm, Euclidean in mm; 0 gives the plain mask). 3 mm
  reaches at least one voxel beyond the nodule along every axis at the collection's slice gaps
  (up to 3 mm) while staying "immediate": a shell one to four voxels thick of the lung
  parenchyma or pleura touching the nodule.
- Shape features describe the nodule itself (``shape_roi="nodule"``, the default): a dilated
  shape is the nodule's shape blurred by a constant, which adds nothing. ``shape_roi="roi"``
  computes them on the dilated ROI instead.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from radiogenomics_assets.dicom.errors import EmptySegmentError, InconsistentGeometryError
from radiogenomics_assets.features.errors import (
    RadiomicsExtractionError,
    UnexpectedFeatureSetError,
)
from radiogenomics_assets.features.roi import bounding_box, dilate_mask, expand_box

# SimpleITK is imported inside the functions that use it: the code location imports this
# module, and loading it must not cost seconds.

if TYPE_CHECKING:
    import SimpleITK as sitk

#: Feature classes enabled, with the number of features each must yield.
RADIOMIC_FEATURE_CLASSES: dict[str, int] = {
    "firstorder": 18,
    "shape": 14,
    "glcm": 24,
    "glrlm": 16,
    "glszm": 16,
    "gldm": 14,
    "ngtdm": 5,
}
N_RADIOMIC_FEATURES = sum(RADIOMIC_FEATURE_CLASSES.values())
DEFAULT_MARGIN_MM = 3.0
DEFAULT_BIN_WIDTH = 25.0
FEATURE_PREFIX = "original_"

ShapeRoi = Literal["nodule", "roi"]


def pyradiomics_version() -> str:
    import radiomics

    return str(radiomics.__version__)


def radiomics_settings(
    *,
    bin_width: float = DEFAULT_BIN_WIDTH,
    resampled_spacing_mm: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Settings passed to ``RadiomicsFeatureExtractor``: pyradiomics' defaults made explicit.

    Args:
        bin_width: width of the intensity bins in HU.
        resampled_spacing_mm: (x, y, z) spacing to resample to, or ``None`` for none.

    Raises:
        ValueError: a non-positive bin width or resampling spacing.
    """
    if not math.isfinite(bin_width) or bin_width <= 0:
        raise ValueError(f"bin_width must be a positive number of HU, got {bin_width!r}")
    if resampled_spacing_mm is not None:
        spacing = [float(s) for s in resampled_spacing_mm]
        if len(spacing) != 3 or not all(math.isfinite(s) and s > 0 for s in spacing):
            raise ValueError(
                f"resampled_spacing_mm must be three positive mm values, got {spacing}"
            )
        resampled: list[float] | None = spacing
    else:
        resampled = None
    return {
        "binWidth": float(bin_width),
        "resampledPixelSpacing": resampled,
        "interpolator": "sitkBSpline",
        "normalize": False,
        "removeOutliers": None,
        "resegmentRange": None,
        "label": 1,
        "padDistance": 5,
        "force2D": False,
        "minimumROIDimensions": 2,
        "minimumROISize": None,
        "preCrop": False,
        "distances": [1],
        "additionalInfo": False,
    }


def radiomics_provenance(
    settings: dict[str, Any], *, margin_mm: float, shape_roi: ShapeRoi
) -> dict[str, str]:
    """Columns that say how a row of features was made."""
    return {
        "pyradiomics_version": pyradiomics_version(),
        "radiomics_settings": json.dumps(
            {**settings, "margin_mm": margin_mm, "shape_roi": shape_roi}, sort_keys=True
        ),
    }


def extract_radiomic_features(
    image: sitk.Image,
    mask: sitk.Image,
    *,
    margin_mm: float = DEFAULT_MARGIN_MM,
    bin_width: float = DEFAULT_BIN_WIDTH,
    resampled_spacing_mm: Sequence[float] | None = None,
    shape_roi: ShapeRoi = "nodule",
    patient_id: str | None = None,
) -> dict[str, float]:
    """The 107 ``original_*`` features of the nodule in ``mask`` (plus a margin) on ``image``.

    Args:
        image: CT in HU.
        mask: nodule mask on the same grid (non-zero = nodule).
        margin_mm: dilation of the ROI for intensity and texture features, in mm.
        bin_width: intensity bin width in HU.
        resampled_spacing_mm: optional (x, y, z) resampling spacing.
        shape_roi: whether shape features describe the nodule or the dilated ROI.
        patient_id: named in error messages.

    Returns:
        ``{pyradiomics feature name: value}``, exactly 107 entries, by class then name.

    Raises:
        InconsistentGeometryError: image and mask are not on the same grid.
        EmptySegmentError: the mask is empty.
        ValueError: a bad margin, bin width or spacing.
        RadiomicsExtractionError: pyradiomics refused the ROI (too small, flat).
        UnexpectedFeatureSetError: the features returned are not the documented 107.
    """
    import SimpleITK as sitk

    where = f"patient {patient_id}" if patient_id else "radiomics input"
    _check_same_grid(image, mask, where)
    if shape_roi not in ("nodule", "roi"):
        raise ValueError(f"shape_roi must be 'nodule' or 'roi', got {shape_roi!r}")
    settings = radiomics_settings(bin_width=bin_width, resampled_spacing_mm=resampled_spacing_mm)
    nodule = sitk.GetArrayViewFromImage(mask) != 0
    spacing = tuple(reversed(mask.GetSpacing()))
    roi = dilate_mask(nodule, spacing, margin_mm, where=where)
    # pyradiomics only ever looks at the ROI's bounding box plus padDistance voxels, but its
    # input checks scan the whole image: cropping first gives the same features in a
    # fraction of the time on a full CT.
    box = expand_box(bounding_box(roi, where=where), [settings["padDistance"] + 1] * 3, roi.shape)
    image = image[box[2], box[1], box[0]]
    roi, nodule = roi[box], nodule[box]
    roi_image = _label_image(roi, image)
    texture_classes = [c for c in RADIOMIC_FEATURE_CLASSES if c != "shape"]
    features = _run(image, roi_image, settings, texture_classes, where)
    shape_mask = _label_image(nodule, image) if shape_roi == "nodule" else roi_image
    features.update(_run(image, shape_mask, settings, ["shape"], where))
    _check_feature_set(features, where)
    return {name: features[name] for name in _ordered(features)}


def _run(
    image: sitk.Image,
    mask: sitk.Image,
    settings: dict[str, Any],
    classes: list[str],
    where: str,
) -> dict[str, float]:
    from radiomics import featureextractor

    logging.getLogger("radiomics").setLevel(logging.ERROR)
    extractor = featureextractor.RadiomicsFeatureExtractor(**settings)
    extractor.disableAllImageTypes()
    extractor.enableImageTypeByName("Original")
    extractor.disableAllFeatures()
    for name in classes:
        extractor.enableFeatureClassByName(name)
    try:
        result = extractor.execute(image, mask)
    except ValueError as error:
        raise RadiomicsExtractionError(
            f"{where}: pyradiomics refused the ROI ({', '.join(classes)}): {error}"
        ) from error
    return {
        key: _real(key, value, where)
        for key, value in result.items()
        if key.startswith(FEATURE_PREFIX)
    }


def _real(name: str, value: Any, where: str) -> float:
    """A feature value as float.

    pyradiomics takes the shape axes from ``numpy.linalg.eigvals`` of a symmetric matrix,
    which can come back complex with a round-off imaginary part when two axes are equal
    (a sphere); that part is dropped. A substantial imaginary part is an error.
    """
    number = complex(np.asarray(value)) if np.iscomplexobj(value) else None
    if number is None:
        return float(np.asarray(value))
    if abs(number.imag) > 1e-9 * max(1.0, abs(number.real)):
        raise RadiomicsExtractionError(
            f"{where}: pyradiomics returned the complex value {number} for {name}"
        )
    return float(number.real)


def _check_feature_set(features: dict[str, float], where: str) -> None:
    counts = Counter(name.split("_")[1] for name in features)
    if dict(counts) != RADIOMIC_FEATURE_CLASSES:
        differences = {
            name: (counts.get(name, 0), RADIOMIC_FEATURE_CLASSES.get(name, 0))
            for name in set(counts) | set(RADIOMIC_FEATURE_CLASSES)
            if counts.get(name, 0) != RADIOMIC_FEATURE_CLASSES.get(name, 0)
        }
        raise UnexpectedFeatureSetError(
            f"{where}: pyradiomics {pyradiomics_version()} returned {len(features)} features, "
            f"expected {sum(RADIOMIC_FEATURE_CLASSES.values())}; "
            f"per class (got, expected): {differences}"
        )


def _ordered(features: dict[str, float]) -> list[str]:
    order = {name: index for index, name in enumerate(RADIOMIC_FEATURE_CLASSES)}
    return sorted(features, key=lambda name: (order[name.split("_")[1]], name))


def _label_image(array: np.ndarray, reference: sitk.Image) -> sitk.Image:
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(array.astype(np.uint8))
    image.CopyInformation(reference)
    return image


def _check_same_grid(image: sitk.Image, mask: sitk.Image, where: str) -> None:
    import SimpleITK as sitk

    if image.GetDimension() != 3 or mask.GetDimension() != 3:
        raise InconsistentGeometryError(f"{where}: image and mask must be 3D")
    if image.GetSize() != mask.GetSize():
        raise InconsistentGeometryError(
            f"{where}: image size {image.GetSize()} differs from mask size {mask.GetSize()}"
        )
    for name, a, b in (
        ("spacing", image.GetSpacing(), mask.GetSpacing()),
        ("origin", image.GetOrigin(), mask.GetOrigin()),
        ("direction", image.GetDirection(), mask.GetDirection()),
    ):
        if not np.allclose(a, b, rtol=1e-6, atol=1e-4):
            raise InconsistentGeometryError(f"{where}: image {name} {a} differs from mask {b}")
    if not np.any(sitk.GetArrayViewFromImage(mask)):
        raise EmptySegmentError(f"{where}: the nodule mask has no foreground voxel")
