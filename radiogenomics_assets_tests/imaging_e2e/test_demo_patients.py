"""End to end on the shared small demo cohort: CT + SEG -> mask -> NIfTI -> both extractors."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiogenomics_assets.dicom.headers import DicomHeader, inspect_dicom_file
from radiogenomics_assets.dicom.nifti import store_nodule_volume
from radiogenomics_assets.dicom.seg import decode_segmentation
from radiogenomics_assets.dicom.series import read_ct_series
from radiogenomics_assets.features.densenet import load_densenet121
from radiogenomics_assets.features.rows import densenet_row, radiomics_row
from radiogenomics_assets.sources.demo import DemoCohort
from radiogenomics_assets.store.files import FileStore


def series_of(patient_folder: Path) -> dict[str, list[DicomHeader]]:
    by_modality: dict[str, list[DicomHeader]] = defaultdict(list)
    for path in sorted(patient_folder.rglob("*.dcm")):
        header = inspect_dicom_file(path)
        by_modality[header.modality].append(header)
    return by_modality


def with_seg(truth: pd.DataFrame) -> pd.DataFrame:
    return truth[truth["has_seg"].astype(bool)]


def test_every_demo_seg_decodes_to_its_planted_nodule(
    small_cohort: DemoCohort, small_ground_truth: pd.DataFrame
) -> None:
    patients = with_seg(small_ground_truth)
    assert len(patients) >= 2
    for row in patients.itertuples():
        files = series_of(small_cohort.dicom_root / row.patient_id)
        ct = read_ct_series(
            [h.path for h in files["CT"]],
            patient_id=row.patient_id,
            expected_series_uid=row.ct_series_uid,
        )
        (seg,) = files["SEG"]
        assert seg.series_uid == row.seg_series_uid
        nodule = decode_segmentation(seg.path, ct)
        assert nodule.segment_number == int(row.nodule_segment_number), row.patient_id
        assert nodule.voxel_count == int(row.nodule_voxels), row.patient_id
        assert int(nodule.mask.any(axis=(1, 2)).sum()) == int(row.nodule_slices)


def test_demo_patient_with_a_lung_segment_through_both_extractors(
    small_cohort: DemoCohort, small_ground_truth: pd.DataFrame, tmp_path: Path
) -> None:
    row = with_seg(small_ground_truth).sort_values("nodule_segment_number").iloc[-1]
    assert int(row["nodule_segment_number"]) == 2, "the small cohort has one two-segment SEG"
    patient = row["patient_id"]
    files = series_of(small_cohort.dicom_root / patient)
    ct = read_ct_series([h.path for h in files["CT"]], patient_id=patient)
    nodule = decode_segmentation(files["SEG"][0].path, ct)
    assert nodule.selection_rule == "property_type"
    record = store_nodule_volume(FileStore(tmp_path), patient, ct, nodule)
    assert record.row["voxel_count"] == int(row["nodule_voxels"])

    plain = radiomics_row(patient, record.ct_file.path, record.mask_file.path, margin_mm=0)
    assert plain["original_firstorder_Mean"] == pytest.approx(row["nodule_hu_mean"], abs=1e-3)
    assert plain["original_shape_VoxelVolume"] == pytest.approx(nodule.volume_mm3)
    default = radiomics_row(patient, record.ct_file.path, record.mask_file.path)
    # The 3 mm shell adds lung parenchyma around the nodule.
    assert default["original_firstorder_Mean"] < plain["original_firstorder_Mean"]

    deep = densenet_row(
        patient, record.ct_file.path, record.mask_file.path, load_densenet121("random")
    )
    vector = np.asarray(deep["densenet_features"])
    assert vector.shape == (1024,) and np.isfinite(vector).all() and vector.max() > 0
    assert deep["n_slices"] == int(row["nodule_slices"])
