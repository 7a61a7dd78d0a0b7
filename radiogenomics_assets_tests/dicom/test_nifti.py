from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from radiogenomics_assets.dicom.errors import InconsistentGeometryError
from radiogenomics_assets.dicom.nifti import (
    read_nifti,
    store_nodule_volume,
    write_mask_nifti,
    write_volume_nifti,
)
from radiogenomics_assets.dicom.seg import decode_segmentation
from radiogenomics_assets.dicom.series import CtVolume, read_ct_series
from radiogenomics_assets.ids import InvalidPatientIdError
from radiogenomics_assets.store.files import FileStore, sha256_file
from radiogenomics_assets_tests.dicom.synthetic import SyntheticCt


def oblique(ct: CtVolume) -> CtVolume:
    """The same voxels under a rotated, feet-first direction, to catch axis mix-ups."""
    angle = np.deg2rad(20)
    rotation = np.array(
        [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]]
    )
    return replace(ct, direction=rotation @ np.diag([1.0, 1.0, -1.0]))


@pytest.mark.parametrize("tilted", [False, True])
def test_volume_round_trip_keeps_values_and_geometry(
    synthetic_ct: SyntheticCt, tmp_path: Path, tilted: bool
) -> None:
    ct = read_ct_series(synthetic_ct.paths)
    if tilted:
        ct = oblique(ct)
    stored = write_volume_nifti(FileStore(tmp_path / "store"), ("v", "ct.nii.gz"), ct)
    assert stored.sha256 == sha256_file(stored.path)
    back = read_nifti(stored.path)
    np.testing.assert_array_equal(back.array, ct.hu)
    assert back.array.dtype == np.int16
    np.testing.assert_allclose(back.spacing, ct.spacing, rtol=1e-6)
    np.testing.assert_allclose(back.origin, ct.origin, atol=1e-4)
    np.testing.assert_allclose(back.direction, ct.direction, atol=1e-6)


def test_nifti_affine_is_ras_for_other_readers(synthetic_ct: SyntheticCt, tmp_path: Path) -> None:
    ct = read_ct_series(synthetic_ct.paths)
    stored = write_volume_nifti(FileStore(tmp_path), ("ct.nii.gz",), ct)
    image = nib.load(stored.path)
    data = np.asarray(image.dataobj)
    # nibabel indexes (i, j, k) = (x, y, z); the voxel (k, j, i) = (3, 5, 7) of the CT:
    assert data[7, 5, 3] == ct.hu[3, 5, 7]
    step = np.array([7 * ct.spacing[2], 5 * ct.spacing[1], 0.0])
    lps = np.asarray(synthetic_ct.datasets[3].ImagePositionPatient, float) + step
    ras = image.affine @ np.array([7, 5, 3, 1.0])
    np.testing.assert_allclose(ras[:3], lps * [-1, -1, 1], atol=1e-4)


def test_fractional_hu_is_stored_as_float(synthetic_ct: SyntheticCt, tmp_path: Path) -> None:
    ct = read_ct_series(synthetic_ct.paths)
    halves = replace(ct, hu=ct.hu + np.float32(0.5))
    back = read_nifti(write_volume_nifti(FileStore(tmp_path), ("h.nii.gz",), halves).path)
    assert back.array.dtype == np.float32
    np.testing.assert_array_equal(back.array, halves.hu)


def test_mask_must_fit_the_grid(synthetic_ct: SyntheticCt, tmp_path: Path) -> None:
    ct = read_ct_series(synthetic_ct.paths)
    with pytest.raises(InconsistentGeometryError, match=r"shape \(2, 3, 4\) does not fit"):
        write_mask_nifti(FileStore(tmp_path), ("m.nii.gz",), np.zeros((2, 3, 4), bool), ct)


def test_store_nodule_volume_writes_both_files_and_the_row(
    synthetic_ct: SyntheticCt, seg_path: Path, tmp_path: Path
) -> None:
    ct = read_ct_series(synthetic_ct.paths, patient_id="SYN-001")
    nodule = decode_segmentation(seg_path, ct)
    store = FileStore(tmp_path / "files")
    record = store_nodule_volume(store, "SYN-001", ct, nodule)
    row = record.row
    assert row["ct_path"] == "nodule_volume/SYN-001/ct_hu.nii.gz"
    assert row["mask_path"] == "nodule_volume/SYN-001/nodule_mask.nii.gz"
    assert row["ct_sha256"] == sha256_file(store.root / row["ct_path"])
    assert row["mask_sha256"] == sha256_file(store.root / row["mask_path"])
    assert row["voxel_count"] == int(synthetic_ct.nodule.sum())
    assert row["nodule_volume_mm3"] == pytest.approx(
        synthetic_ct.nodule.sum() * np.prod(synthetic_ct.spacing)
    )
    assert (row["shape_z"], row["shape_y"], row["shape_x"]) == synthetic_ct.nodule.shape
    assert row["seg_series_uid"] == pydicom.dcmread(seg_path).SeriesInstanceUID
    mask = read_nifti(record.mask_file.path)
    np.testing.assert_array_equal(mask.array, synthetic_ct.nodule.astype(np.uint8))
    assert not [p for p in store.root.rglob(".tmp-*")]
    with pytest.raises(InvalidPatientIdError):
        store_nodule_volume(store, "../up", ct, nodule)
