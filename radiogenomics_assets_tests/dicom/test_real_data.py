"""Real public DICOM: the dcmqi CT + SEG pair and ten slices each of two NSCLC-Radiogenomics CTs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from radiogenomics_assets.dicom.errors import NoNoduleSegmentError
from radiogenomics_assets.dicom.seg import decode_segmentation
from radiogenomics_assets.dicom.series import read_ct_series

R01_SERIES = {
    "R01-005": (
        "1.3.6.1.4.1.14519.5.2.1.4334.1501.129471994294769908788611961140",
        0.654296875,
        -7.0,
    ),
    "R01-012": (
        "1.3.6.1.4.1.14519.5.2.1.4334.1501.224047596729059954195742731472",
        0.69921875,
        -22.5,
    ),
}


def test_dcmqi_liver_seg_matches_its_nrrd_voxel_for_voxel(shared_data: Path) -> None:
    folder = shared_data / "dicom-seg-example-dcmqi"
    ct = read_ct_series(sorted((folder / "ct-3slice").glob("*.dcm")))
    assert ct.shape == (3, 512, 512)
    assert ct.spacing == pytest.approx((1.0, 0.810547, 0.810547), abs=1e-5)
    # The rule refuses an organ; the liver is chosen by number.
    with pytest.raises(NoNoduleSegmentError, match="'Liver'"):
        decode_segmentation(folder / "liver_seg.dcm", ct)
    liver = decode_segmentation(folder / "liver_seg.dcm", ct, segment_number=1)

    nrrd = sitk.ReadImage(str(folder / "liver_seg.nrrd"))
    np.testing.assert_allclose(nrrd.GetOrigin(), ct.origin, atol=1e-3)
    np.testing.assert_allclose(nrrd.GetSpacing(), ct.spacing[::-1], atol=1e-5)
    np.testing.assert_allclose(np.reshape(nrrd.GetDirection(), (3, 3)), ct.direction, atol=1e-6)
    expected = sitk.GetArrayFromImage(nrrd) > 0
    np.testing.assert_array_equal(liver.mask, expected)
    assert liver.voxel_count == 107_098 == int(expected.sum())
    assert liver.volume_mm3 == pytest.approx(107_098 * 0.810547**2 * 1.0, rel=1e-5)


@pytest.mark.parametrize("patient", sorted(R01_SERIES))
def test_nsclc_radiogenomics_ct_reads_with_hu_and_geometry(shared_data: Path, patient: str) -> None:
    series_uid, pixel, first_z = R01_SERIES[patient]
    paths = sorted((shared_data / "nsclc-radiogenomics-ct-r01-partial" / patient).glob("*/*/*.dcm"))
    ct = read_ct_series(paths, patient_id=patient, expected_series_uid=series_uid)
    assert ct.shape == (10, 512, 512)
    assert ct.spacing == pytest.approx((1.0, pixel, pixel))
    assert ct.origin[2] == pytest.approx(first_z)
    np.testing.assert_allclose(ct.direction, np.eye(3))
    assert ct.hu.min() >= -1024 - 1e-3
    assert 1500 < ct.hu.max() < 3100
    # The corners of the field of view are air outside the patient.
    assert np.median(ct.hu[:, :20, :20]) < -900
    # Lung and soft tissue both present on a chest slice.
    middle = ct.hu[5]
    assert (middle < -500).mean() > 0.2
    assert ((middle > -100) & (middle < 100)).mean() > 0.05
