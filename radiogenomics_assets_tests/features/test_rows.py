"""From DICOM to feature rows: CT + SEG -> NIfTI store -> radiomics and DenseNet rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from radiogenomics_assets.dicom.errors import InconsistentGeometryError
from radiogenomics_assets.dicom.nifti import (
    store_nodule_volume,
    write_mask_nifti,
    write_volume_nifti,
)
from radiogenomics_assets.dicom.seg import decode_segmentation
from radiogenomics_assets.dicom.series import read_ct_series
from radiogenomics_assets.features.densenet import densenet_features, load_densenet121
from radiogenomics_assets.features.radiomics import extract_radiomic_features
from radiogenomics_assets.features.rows import densenet_row, radiomics_row
from radiogenomics_assets.store.files import FileStore
from radiogenomics_assets_tests.dicom.synthetic import (
    SyntheticCt,
    build_seg,
    nodule_description,
    organ_description,
    save,
    write_ct_series,
)


def test_rows_from_the_stored_nodule_volume(tmp_path: Path) -> None:
    synthetic_ct = write_ct_series(tmp_path / "ct", radius_mm=2.5)  # two slices: fast DenseNet
    seg = save(build_seg(synthetic_ct), tmp_path / "seg.dcm")
    ct = read_ct_series(synthetic_ct.paths, patient_id="SYN-001")
    nodule = decode_segmentation(seg, ct)
    record = store_nodule_volume(FileStore(tmp_path / "files"), "SYN-001", ct, nodule)

    row = radiomics_row("SYN-001", record.ct_file.path, record.mask_file.path)
    direct = extract_radiomic_features(ct.to_sitk(), ct.image_like(nodule.mask.astype(np.uint8)))
    assert {k: row[k] for k in direct} == pytest.approx(direct, rel=1e-6)
    assert row["patient_id"] == "SYN-001"
    assert json.loads(row["radiomics_settings"])["margin_mm"] == 3.0
    assert len(row) == 107 + 3

    network = load_densenet121("random", device="cpu")
    deep = densenet_row("SYN-001", record.ct_file.path, record.mask_file.path, network)
    expected = densenet_features(ct.hu, nodule.mask, ct.spacing, network)
    np.testing.assert_allclose(deep["densenet_features"], expected, rtol=1e-5, atol=1e-6)
    assert deep["densenet_weights"] == "random:seed=0"
    assert deep["densenet_weights_fallback"] is False
    assert deep["n_slices"] == int(synthetic_ct.nodule.any(axis=(1, 2)).sum())


def test_densenet_row_refuses_files_of_two_grids(synthetic_ct: SyntheticCt, tmp_path: Path) -> None:
    ct = read_ct_series(synthetic_ct.paths)
    store = FileStore(tmp_path)
    other = write_ct_series(tmp_path / "other", shape=(6, 48, 48))
    small = read_ct_series(other.paths)
    ct_file = write_volume_nifti(store, ("ct.nii.gz",), ct)
    mask_file = write_mask_nifti(store, ("m.nii.gz",), other.nodule, small)
    with pytest.raises(InconsistentGeometryError, match=r"SYN-001: CT .* not on one grid"):
        densenet_row("SYN-001", ct_file.path, mask_file.path, load_densenet121("random"))


@pytest.mark.slow
def test_full_size_patient_end_to_end(tmp_path: Path) -> None:
    """A 512x512 CT with a 30 mm nodule and a whole-lung segment, through every step."""
    case = write_ct_series(
        tmp_path / "ct",
        shape=(40, 512, 512),
        spacing=(1.25, 0.7, 0.7),
        origin=(-179.0, -179.0, -300.0),
        radius_mm=15.0,
        centre_index=(20, 240, 300),
    )
    lung = np.zeros_like(case.nodule)
    lung[:, 100:400, 150:450] = True
    seg = save(
        build_seg(case, [lung, case.nodule], [organ_description(1), nodule_description(2)]),
        tmp_path / "seg.dcm",
    )
    ct = read_ct_series(case.paths, patient_id=case.patient_id)
    nodule = decode_segmentation(seg, ct)
    assert (nodule.segment_number, nodule.voxel_count) == (2, int(case.nodule.sum()))
    record = store_nodule_volume(FileStore(tmp_path / "files"), case.patient_id, ct, nodule)
    row = radiomics_row(case.patient_id, record.ct_file.path, record.mask_file.path)
    assert all(np.isfinite(row[k]) for k in row if k.startswith("original_"))
    assert row["original_shape_VoxelVolume"] == pytest.approx(nodule.volume_mm3)
    deep = densenet_row(
        case.patient_id,
        record.ct_file.path,
        record.mask_file.path,
        load_densenet121("random", device="auto"),
    )
    assert deep["n_slices"] == int(case.nodule.any(axis=(1, 2)).sum()) == 25
    assert np.isfinite(deep["densenet_features"]).all()
