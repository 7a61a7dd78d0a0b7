"""Both extractors on real NSCLC-Radiogenomics CT slices, around a synthetic ROI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from radiogenomics_assets.dicom.series import read_ct_series
from radiogenomics_assets.features.densenet import densenet_features, load_densenet121
from radiogenomics_assets.features.radiomics import (
    RADIOMIC_FEATURE_CLASSES,
    extract_radiomic_features,
)
from radiogenomics_assets_tests.dicom.synthetic import sphere


@pytest.mark.parametrize("patient", ["R01-005", "R01-012"])
def test_extractors_on_real_chest_ct(shared_data: Path, patient: str) -> None:
    folder = shared_data / "nsclc-radiogenomics-ct-r01-partial" / patient
    ct = read_ct_series(sorted(folder.glob("*/*/*.dcm")), patient_id=patient)
    # A ball right of the midline at the scan's middle slice: lung and chest wall around it.
    centre = (4.5, 256.0, 150.0)
    roi = sphere(ct.shape, ct.spacing, centre, 4.0)
    features = extract_radiomic_features(
        ct.to_sitk(), ct.image_like(roi.astype(np.uint8)), margin_mm=0, patient_id=patient
    )
    assert len(features) == sum(RADIOMIC_FEATURE_CLASSES.values()) == 107
    assert all(np.isfinite(v) for v in features.values())
    assert features["original_firstorder_Mean"] == pytest.approx(ct.hu[roi].mean(), rel=1e-5)
    assert features["original_shape_VoxelVolume"] == pytest.approx(roi.sum() * np.prod(ct.spacing))

    small = sphere(ct.shape, ct.spacing, centre, 1.5)  # three slices
    network = load_densenet121("random", device="cpu")
    vector = densenet_features(ct.hu, small, ct.spacing, network, patient_id=patient)
    assert vector.shape == (1024,)
    assert np.isfinite(vector).all() and (vector >= 0).all() and vector.max() > 0
