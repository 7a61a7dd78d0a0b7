from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from radiogenomics_assets.dicom.errors import (
    DuplicateSlicePositionError,
    FrameOfReferenceMismatchError,
    InconsistentGeometryError,
    IrregularSliceSpacingError,
    MixedSeriesError,
    PatientMismatchError,
    WrongModalityError,
)
from radiogenomics_assets.dicom.series import read_ct_series
from radiogenomics_assets.ids import InvalidPatientIdError
from radiogenomics_assets_tests.dicom.synthetic import SyntheticCt, write_ct_series


def rewrite(path: Path, change: Callable[[Dataset], None]) -> Path:
    dataset = pydicom.dcmread(path)
    change(dataset)
    dataset.save_as(path)
    return path


def test_reads_hu_in_slice_order_with_geometry(synthetic_ct: SyntheticCt) -> None:
    ct = read_ct_series(list(reversed(synthetic_ct.paths)), patient_id="SYN-001")
    np.testing.assert_array_equal(ct.hu, synthetic_ct.hu)
    assert ct.hu.dtype == np.float32
    assert ct.shape == synthetic_ct.hu.shape
    assert ct.spacing == pytest.approx(synthetic_ct.spacing)
    assert ct.origin == pytest.approx(synthetic_ct.origin)
    np.testing.assert_allclose(ct.direction, np.eye(3))
    assert ct.sop_instance_uids == tuple(d.SOPInstanceUID for d in synthetic_ct.datasets)
    assert ct.paths == tuple(synthetic_ct.paths)
    assert ct.series_uid == synthetic_ct.series_uid
    assert ct.frame_of_reference_uid == synthetic_ct.frame_of_reference_uid
    assert ct.patient_id == "SYN-001"
    with pytest.raises(ValueError, match="read-only"):
        ct.hu[0, 0, 0] = 1


def test_sorting_follows_the_normal_not_the_file_order(tmp_path: Path) -> None:
    # Feet-first orientation: the normal points to -z, so slice 0 is the highest z.
    ct_files = write_ct_series(tmp_path / "ct", shape=(4, 8, 8))
    for path in ct_files.paths:
        rewrite(path, lambda d: setattr(d, "ImageOrientationPatient", [-1, 0, 0, 0, 1, 0]))
    ct = read_ct_series(ct_files.paths)
    z_positions = [float(d.ImagePositionPatient[2]) for d in ct_files.datasets]
    assert ct.origin[2] == pytest.approx(max(z_positions))
    np.testing.assert_allclose(ct.direction[:, 2], [0, 0, -1])
    np.testing.assert_array_equal(ct.hu, ct_files.hu[::-1])


def test_to_sitk_places_voxels_where_dicom_says(synthetic_ct: SyntheticCt) -> None:
    ct = read_ct_series(synthetic_ct.paths)
    image = ct.to_sitk()
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(image), synthetic_ct.hu)
    k, j, i = 5, 7, 11
    step = np.array([i * synthetic_ct.spacing[2], j * synthetic_ct.spacing[1], 0.0])
    expected = np.asarray(synthetic_ct.datasets[k].ImagePositionPatient, float) + step
    np.testing.assert_allclose(image.TransformIndexToPhysicalPoint((i, j, k)), expected)


def test_irregular_slice_spacing_names_the_gap(synthetic_ct: SyntheticCt) -> None:
    moved = synthetic_ct.paths[6]
    rewrite(moved, lambda d: d.ImagePositionPatient.__setitem__(2, d.ImagePositionPatient[2] + 0.7))
    with pytest.raises(
        IrregularSliceSpacingError, match=rf"SYN-001.*{moved.name}.*median spacing 2\.5"
    ):
        read_ct_series(synthetic_ct.paths, patient_id="SYN-001")


def test_a_missing_slice_is_an_irregular_gap(synthetic_ct: SyntheticCt) -> None:
    with pytest.raises(IrregularSliceSpacingError, match=r"gap of 5\.0000 mm"):
        read_ct_series(synthetic_ct.paths[:4] + synthetic_ct.paths[5:])


def test_duplicate_slice_position(synthetic_ct: SyntheticCt) -> None:
    position = list(synthetic_ct.datasets[3].ImagePositionPatient)
    rewrite(synthetic_ct.paths[4], lambda d: setattr(d, "ImagePositionPatient", position))
    with pytest.raises(DuplicateSlicePositionError, match=rf"{synthetic_ct.series_uid}.*both at"):
        read_ct_series(synthetic_ct.paths)


def test_non_ct_modality(synthetic_ct: SyntheticCt) -> None:
    rewrite(synthetic_ct.paths[2], lambda d: setattr(d, "Modality", "MR"))
    with pytest.raises(
        WrongModalityError, match=rf"{synthetic_ct.paths[2].name}.*'MR', expected 'CT'"
    ):
        read_ct_series(synthetic_ct.paths, patient_id="SYN-001")


def test_a_seg_file_is_not_a_ct(synthetic_ct: SyntheticCt, seg_path: Path) -> None:
    with pytest.raises(MixedSeriesError, match="files mix 2 series"):
        read_ct_series([*synthetic_ct.paths, seg_path])
    with pytest.raises(WrongModalityError, match="'SEG', expected 'CT'"):
        read_ct_series([seg_path])


def test_mixed_frame_of_reference(synthetic_ct: SyntheticCt) -> None:
    rewrite(synthetic_ct.paths[1], lambda d: setattr(d, "FrameOfReferenceUID", generate_uid()))
    with pytest.raises(FrameOfReferenceMismatchError, match="2 FrameOfReferenceUIDs"):
        read_ct_series(synthetic_ct.paths)


@pytest.mark.parametrize(
    ("attribute", "value", "message"),
    [
        ("PixelSpacing", [0.9, 0.9], "PixelSpacing"),
        ("ImageOrientationPatient", [1, 0, 0, 0, 0.8, 0.6], "ImageOrientationPatient"),
    ],
)
def test_inconsistent_geometry(
    synthetic_ct: SyntheticCt, attribute: str, value: list[float], message: str
) -> None:
    rewrite(synthetic_ct.paths[5], lambda d: setattr(d, attribute, value))
    with pytest.raises(
        InconsistentGeometryError, match=rf"{synthetic_ct.paths[5].name} has {message}"
    ):
        read_ct_series(synthetic_ct.paths)


def test_orientation_must_be_orthonormal(synthetic_ct: SyntheticCt) -> None:
    for path in synthetic_ct.paths:
        rewrite(path, lambda d: setattr(d, "ImageOrientationPatient", [1, 0, 0, 0, 2, 0]))
    with pytest.raises(InconsistentGeometryError, match="not two orthogonal unit vectors"):
        read_ct_series(synthetic_ct.paths)


def test_in_plane_shift_is_refused(synthetic_ct: SyntheticCt) -> None:
    rewrite(synthetic_ct.paths[7], lambda d: d.ImagePositionPatient.__setitem__(0, -18.0))
    with pytest.raises(InconsistentGeometryError, match=r"shifted 1\.200 mm in-plane"):
        read_ct_series(synthetic_ct.paths)


def test_patient_mismatch(synthetic_ct: SyntheticCt) -> None:
    with pytest.raises(PatientMismatchError, match=r"slice-.*patient 'SYN-001', not R01-005"):
        read_ct_series(synthetic_ct.paths, patient_id="R01-005")
    rewrite(synthetic_ct.paths[0], lambda d: setattr(d, "PatientID", "OTHER"))
    with pytest.raises(PatientMismatchError, match="mix PatientIDs"):
        read_ct_series(synthetic_ct.paths)


def test_unsafe_patient_id(synthetic_ct: SyntheticCt) -> None:
    with pytest.raises(InvalidPatientIdError, match=r"\.\./x"):
        read_ct_series(synthetic_ct.paths, patient_id="../x")


def test_single_slice_uses_slice_thickness(tmp_path: Path) -> None:
    one = write_ct_series(tmp_path / "one", shape=(1, 8, 8), spacing=(3.0, 1.0, 1.0))
    assert read_ct_series(one.paths).spacing == pytest.approx((3.0, 1.0, 1.0))
    rewrite(one.paths[0], lambda d: delattr(d, "SliceThickness"))
    with pytest.raises(InconsistentGeometryError, match="single slice"):
        read_ct_series(one.paths)
