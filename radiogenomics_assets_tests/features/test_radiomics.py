from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from radiogenomics_assets.dicom.errors import EmptySegmentError, InconsistentGeometryError
from radiogenomics_assets.dicom.series import CtVolume, read_ct_series
from radiogenomics_assets.features import radiomics
from radiogenomics_assets.features.errors import (
    RadiomicsExtractionError,
    UnexpectedFeatureSetError,
)
from radiogenomics_assets.features.radiomics import (
    RADIOMIC_FEATURE_CLASSES,
    extract_radiomic_features,
    pyradiomics_version,
    radiomics_provenance,
    radiomics_settings,
)
from radiogenomics_assets_tests.dicom.synthetic import SyntheticCt, write_ct_series
from radiogenomics_assets_tests.features.test_roi import brute_force_dilation


def images(ct: CtVolume, mask: np.ndarray) -> tuple[sitk.Image, sitk.Image]:
    return ct.to_sitk(), ct.image_like(mask.astype(np.uint8))


def test_exactly_the_107_documented_features(
    ct_volume: CtVolume, synthetic_ct: SyntheticCt
) -> None:
    features = extract_radiomic_features(*images(ct_volume, synthetic_ct.nodule))
    assert len(features) == 107 == sum(RADIOMIC_FEATURE_CLASSES.values())
    assert Counter(name.split("_")[1] for name in features) == RADIOMIC_FEATURE_CLASSES
    assert all(name.startswith("original_") for name in features)
    assert all(np.isfinite(value) for value in features.values())
    assert {"original_glcm_Idmn", "original_ngtdm_Busyness", "original_shape_Sphericity"} <= set(
        features
    )


def test_plain_mask_first_order_statistics_match_numpy(
    ct_volume: CtVolume, synthetic_ct: SyntheticCt
) -> None:
    features = extract_radiomic_features(*images(ct_volume, synthetic_ct.nodule), margin_mm=0)
    values = synthetic_ct.hu[synthetic_ct.nodule]
    assert features["original_firstorder_Mean"] == pytest.approx(values.mean(), rel=1e-6)
    assert features["original_firstorder_Minimum"] == values.min()
    assert features["original_firstorder_Maximum"] == values.max()
    assert features["original_firstorder_Median"] == pytest.approx(np.median(values))


def test_margin_adds_the_surroundings_to_intensity_but_not_to_shape(
    ct_volume: CtVolume, synthetic_ct: SyntheticCt
) -> None:
    pair = images(ct_volume, synthetic_ct.nodule)
    plain = extract_radiomic_features(*pair, margin_mm=0)
    wide = extract_radiomic_features(*pair, margin_mm=3.0)
    shell = brute_force_dilation(synthetic_ct.nodule, synthetic_ct.spacing, 3.0)
    assert wide["original_firstorder_Mean"] == pytest.approx(
        synthetic_ct.hu[shell].mean(), rel=1e-5
    )
    assert wide["original_firstorder_Mean"] < plain["original_firstorder_Mean"] - 100
    voxel = float(np.prod(synthetic_ct.spacing))
    nodule_volume = synthetic_ct.nodule.sum() * voxel
    for result in (plain, wide):
        assert result["original_shape_VoxelVolume"] == pytest.approx(nodule_volume)
    roi_shape = extract_radiomic_features(*pair, margin_mm=3.0, shape_roi="roi")
    assert roi_shape["original_shape_VoxelVolume"] == pytest.approx(shell.sum() * voxel)


def test_bin_width_changes_texture_not_first_order_mean(
    ct_volume: CtVolume, synthetic_ct: SyntheticCt
) -> None:
    pair = images(ct_volume, synthetic_ct.nodule)
    coarse = extract_radiomic_features(*pair, bin_width=100)
    fine = extract_radiomic_features(*pair, bin_width=5)
    assert coarse["original_firstorder_Mean"] == fine["original_firstorder_Mean"]
    assert coarse["original_glcm_JointEntropy"] < fine["original_glcm_JointEntropy"]


def test_mask_off_the_image_grid(ct_volume: CtVolume, synthetic_ct: SyntheticCt) -> None:
    image, mask = images(ct_volume, synthetic_ct.nodule)
    mask.SetOrigin((0.0, 0.0, 0.0))
    with pytest.raises(InconsistentGeometryError, match="R01-001: image origin"):
        extract_radiomic_features(image, mask, patient_id="R01-001")


def test_empty_and_degenerate_masks(ct_volume: CtVolume) -> None:
    empty = np.zeros(ct_volume.shape, dtype=bool)
    with pytest.raises(EmptySegmentError, match="R01-001: the nodule mask has no foreground"):
        extract_radiomic_features(*images(ct_volume, empty), patient_id="R01-001")
    single = empty.copy()
    single[5, 20, 20] = True
    with pytest.raises(
        RadiomicsExtractionError, match=r"R01-001: pyradiomics refused.*single voxel"
    ):
        extract_radiomic_features(*images(ct_volume, single), margin_mm=0, patient_id="R01-001")


def test_a_different_feature_set_is_an_error(
    ct_volume: CtVolume, synthetic_ct: SyntheticCt, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(radiomics.RADIOMIC_FEATURE_CLASSES, "firstorder", 19)
    with pytest.raises(UnexpectedFeatureSetError, match=r"expected 108.*'firstorder': \(18, 19\)"):
        extract_radiomic_features(*images(ct_volume, synthetic_ct.nodule))


def test_settings_and_provenance() -> None:
    settings = radiomics_settings(bin_width=10, resampled_spacing_mm=(1, 1, 1))
    assert settings["binWidth"] == 10.0
    assert settings["resampledPixelSpacing"] == [1.0, 1.0, 1.0]
    provenance = radiomics_provenance(settings, margin_mm=3.0, shape_roi="nodule")
    assert provenance["pyradiomics_version"] == pyradiomics_version() != ""
    recorded = json.loads(provenance["radiomics_settings"])
    assert recorded["margin_mm"] == 3.0 and recorded["binWidth"] == 10.0
    with pytest.raises(ValueError, match="bin_width must be a positive number of HU, got 0"):
        radiomics_settings(bin_width=0)
    with pytest.raises(ValueError, match="resampled_spacing_mm must be three positive"):
        radiomics_settings(resampled_spacing_mm=(1, 1))


def test_round_off_complex_values_are_made_real_but_real_complex_ones_refused() -> None:
    assert radiomics._real("f", np.complex128(15.3 + 9e-16j), "p") == 15.3
    assert radiomics._real("f", np.float64(2.5), "p") == 2.5
    with pytest.raises(RadiomicsExtractionError, match=r"p: .*complex value .* for f"):
        radiomics._real("f", np.complex128(1 + 0.5j), "p")


def test_cropping_gives_plain_pyradiomics_results(tmp_path: Path) -> None:
    from radiomics import featureextractor

    case = write_ct_series(tmp_path / "big", shape=(24, 64, 64), centre_index=(9, 30, 26))
    ct = read_ct_series(case.paths)
    image, mask = images(ct, case.nodule)
    ours = extract_radiomic_features(image, mask, margin_mm=2.0, shape_roi="roi")
    roi = brute_force_dilation(case.nodule, case.spacing, 2.0)
    plain = featureextractor.RadiomicsFeatureExtractor(**radiomics_settings())
    expected = plain.execute(image, ct.image_like(roi.astype(np.uint8)))
    assert set(ours) == {k for k in expected if k.startswith("original_")}
    for name, value in ours.items():
        assert value == pytest.approx(float(np.real(expected[name])), rel=1e-6, abs=1e-9), name
