"""One table row per patient from the stored nodule volume: what the feature assets write.

Both functions read the CT and mask NIfTIs written by ``dicom.nifti.store_nodule_volume``, so
the feature assets depend only on ``nodule_volume`` files, never on DICOM.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from radiogenomics_assets.dicom.errors import InconsistentGeometryError
from radiogenomics_assets.dicom.nifti import read_nifti
from radiogenomics_assets.features.densenet import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CROP_MARGIN_MM,
    FEATURE_DIM,
    LUNG_WINDOW,
    LoadedDenseNet,
    densenet_features,
)
from radiogenomics_assets.features.radiomics import (
    DEFAULT_BIN_WIDTH,
    DEFAULT_MARGIN_MM,
    ShapeRoi,
    extract_radiomic_features,
    radiomics_provenance,
    radiomics_settings,
)
from radiogenomics_assets.ids import validate_patient_id

# SimpleITK is imported inside the functions that use it: the code location imports this
# module, and loading it must not cost seconds.


def radiomics_row(
    patient_id: str,
    ct_path: Path,
    mask_path: Path,
    *,
    margin_mm: float = DEFAULT_MARGIN_MM,
    bin_width: float = DEFAULT_BIN_WIDTH,
    shape_roi: ShapeRoi = "nodule",
) -> dict[str, Any]:
    """``patient_id``, the 107 features (pyradiomics names), ``pyradiomics_version`` and
    ``radiomics_settings`` (JSON, margin included).

    Raises:
        InvalidPatientIdError, and everything ``extract_radiomic_features`` raises.
    """
    import SimpleITK as sitk

    validate_patient_id(patient_id, where="radiomics_row")
    image = sitk.ReadImage(str(ct_path))
    mask = sitk.ReadImage(str(mask_path))
    features = extract_radiomic_features(
        image,
        mask,
        margin_mm=margin_mm,
        bin_width=bin_width,
        shape_roi=shape_roi,
        patient_id=patient_id,
    )
    provenance = radiomics_provenance(
        radiomics_settings(bin_width=bin_width), margin_mm=margin_mm, shape_roi=shape_roi
    )
    return {"patient_id": patient_id, **features, **provenance}


def densenet_row(
    patient_id: str,
    ct_path: Path,
    mask_path: Path,
    network: LoadedDenseNet,
    *,
    margin_mm: float = DEFAULT_CROP_MARGIN_MM,
    window: tuple[float, float] = LUNG_WINDOW,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> dict[str, Any]:
    """``patient_id``, ``densenet_features`` (1024 floats), ``densenet_weights`` (what was
    loaded), ``densenet_weights_fallback``, ``n_slices``, ``crop_margin_mm`` and ``window``.

    Raises:
        InvalidPatientIdError; InconsistentGeometryError if the two files disagree on the
        grid; and everything ``densenet_features`` raises.
    """
    validate_patient_id(patient_id, where="densenet_row")
    ct = read_nifti(ct_path)
    mask = read_nifti(mask_path)
    if ct.array.shape != mask.array.shape or not np.allclose(ct.spacing, mask.spacing):
        raise InconsistentGeometryError(
            f"patient {patient_id}: CT {ct_path} {ct.array.shape} / {ct.spacing} and mask "
            f"{mask_path} {mask.array.shape} / {mask.spacing} are not on one grid"
        )
    nodule = mask.array != 0
    vector = densenet_features(
        ct.array,
        nodule,
        ct.spacing,
        network,
        batch_size=batch_size,
        margin_mm=margin_mm,
        window=window,
        patient_id=patient_id,
    )
    slices = np.flatnonzero(nodule.any(axis=(1, 2)))
    return {
        "patient_id": patient_id,
        "densenet_features": [float(v) for v in vector],
        "densenet_dim": FEATURE_DIM,
        "densenet_weights": network.weights_used,
        "densenet_weights_fallback": network.fell_back,
        "n_slices": int(slices[-1] - slices[0] + 1),
        "crop_margin_mm": float(margin_mm),
        "window_level_hu": float(window[0]),
        "window_width_hu": float(window[1]),
    }
