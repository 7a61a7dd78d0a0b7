"""CT and SEG files: strict validity, geometry, HU round trip, SEG decoding, NBIA layout."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import highdicom as hd
import numpy as np
import pandas as pd
import pydicom
import pytest

from radiogenomics_assets.sources.demo import DemoCohort
from radiogenomics_assets.sources.demo.phantom import synthesize_phantom
from radiogenomics_assets.sources.demo.plan import plan_cohort
from radiogenomics_assets_tests.demo_fixtures import SMALL_CONFIG

NODULE_CODE = "27925004"  # SNOMED CT "Nodule"
STUDY = re.compile(r"^(\d{2})-(\d{2})-(\d{4})-NA-(.+)-(\d{5})$")
SERIES = re.compile(r"^(\d+)\.000000-(.+)-(\d{5})$")


def _series(cohort: DemoCohort, patient_id: str) -> tuple[list[Path], Path]:
    files = sorted((cohort.dicom_root / patient_id).glob("*/*/*.dcm"))
    seg = [f for f in files if f.name == "1-1.dcm"]
    assert len(seg) == 1
    return [f for f in files if f != seg[0]], seg[0]


def _imaged(truth: pd.DataFrame) -> list[str]:
    return truth.loc[truth["has_seg"], "patient_id"].tolist()


def _nodule_segment(seg: hd.seg.Segmentation) -> int:
    numbers = [
        item.SegmentNumber
        for item in seg.SegmentSequence
        if item.SegmentedPropertyTypeCodeSequence[0].CodeValue == NODULE_CODE
    ]
    assert len(numbers) == 1
    return int(numbers[0])


def test_only_imaged_patients_have_dicom(
    small_cohort: DemoCohort, small_ground_truth: pd.DataFrame
) -> None:
    folders = sorted(p.name for p in small_cohort.dicom_root.iterdir())
    assert folders == sorted(_imaged(small_ground_truth))
    assert len(folders) < small_cohort.config.n_patients


@pytest.mark.usefixtures("strict_dicom")
def test_every_file_reads_in_strict_mode(small_cohort: DemoCohort) -> None:
    files = sorted(small_cohort.dicom_root.rglob("*.dcm"))
    assert files
    for path in files:
        ds = pydicom.dcmread(path)
        for _ in ds.iterall():
            pass
        assert ds.pixel_array.size > 0


def test_ct_headers_and_geometry(
    small_cohort: DemoCohort, small_ground_truth: pd.DataFrame
) -> None:
    config = small_cohort.config
    for _, truth in small_ground_truth[small_ground_truth["has_seg"]].iterrows():
        ct_files, _ = _series(small_cohort, truth["patient_id"])
        headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in ct_files]
        assert len(headers) == config.n_slices
        assert {h.SOPClassUID for h in headers} == {pydicom.uid.CTImageStorage}
        assert {h.Modality for h in headers} == {"CT"}
        assert {h.PatientID for h in headers} == {truth["patient_id"]}
        assert {h.SeriesInstanceUID for h in headers} == {truth["ct_series_uid"]}
        assert {h.StudyInstanceUID for h in headers} == {truth["study_uid"]}
        assert len({h.FrameOfReferenceUID for h in headers}) == 1
        assert len({h.SOPInstanceUID for h in headers}) == config.n_slices
        study_date = dt.date.fromisoformat(truth["ct_date"]).strftime("%Y%m%d")
        assert {h.StudyDate for h in headers} == {study_date}
        assert [int(h.InstanceNumber) for h in headers] == list(range(1, config.n_slices + 1))
        positions = np.array([[float(v) for v in h.ImagePositionPatient] for h in headers])
        assert np.ptp(positions[:, :2], axis=0).max() == 0
        np.testing.assert_allclose(np.diff(positions[:, 2]), -config.slice_thickness_mm)
        for h in headers:
            assert [float(v) for v in h.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
            assert [float(v) for v in h.PixelSpacing] == [config.pixel_spacing_mm] * 2
            assert float(h.SliceThickness) == config.slice_thickness_mm
            assert (h.Rows, h.Columns) == (config.rows, config.cols)
            assert (float(h.RescaleSlope), float(h.RescaleIntercept)) == (1.0, -1024.0)


def test_hu_round_trip_equals_the_phantom(
    small_cohort: DemoCohort, small_ground_truth: pd.DataFrame
) -> None:
    plan = plan_cohort(SMALL_CONFIG).set_index("patient_id", drop=False)
    patient_id = _imaged(small_ground_truth)[0]
    phantom = synthesize_phantom(SMALL_CONFIG, plan.loc[patient_id])
    ct_files, _ = _series(small_cohort, patient_id)
    for k, path in enumerate(ct_files):
        ds = pydicom.dcmread(path)
        assert ds.pixel_array.dtype == np.uint16
        hu = ds.pixel_array.astype(np.int32) * int(ds.RescaleSlope) + int(ds.RescaleIntercept)
        np.testing.assert_array_equal(hu, phantom.hu[k])


def test_seg_decodes_onto_the_ct_grid(
    small_cohort: DemoCohort, small_ground_truth: pd.DataFrame
) -> None:
    plan = plan_cohort(SMALL_CONFIG).set_index("patient_id", drop=False)
    seen_lung_segment = False
    for _, truth in small_ground_truth[small_ground_truth["has_seg"]].iterrows():
        ct_files, seg_file = _series(small_cohort, truth["patient_id"])
        ct = [pydicom.dcmread(f, stop_before_pixels=True) for f in ct_files]
        seg = hd.seg.segread(seg_file)
        assert seg.SeriesDescription == "3D Slicer segmentation result"
        assert seg.SegmentationType == "BINARY"
        assert seg.FrameOfReferenceUID == ct[0].FrameOfReferenceUID
        assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == truth["ct_series_uid"]
        number = _nodule_segment(seg)
        assert number == truth["nodule_segment_number"]
        assert len(seg.SegmentSequence) == (2 if truth["has_second_segment"] else 1)
        seen_lung_segment |= bool(truth["has_second_segment"])
        mask = seg.get_pixels_by_source_instance(
            source_sop_instance_uids=[h.SOPInstanceUID for h in ct],
            segment_numbers=[number],
            combine_segments=True,
        )
        assert mask.shape == (len(ct), ct[0].Rows, ct[0].Columns)
        assert int((mask > 0).sum()) == truth["nodule_voxels"]
        phantom = synthesize_phantom(SMALL_CONFIG, plan.loc[truth["patient_id"]])
        np.testing.assert_array_equal(mask > 0, phantom.nodule_mask)
    assert seen_lung_segment


def test_nodule_lies_inside_the_volume_with_a_margin(
    small_ground_truth: pd.DataFrame,
) -> None:
    plan = plan_cohort(SMALL_CONFIG).set_index("patient_id", drop=False)
    for patient_id in _imaged(small_ground_truth):
        phantom = synthesize_phantom(SMALL_CONFIG, plan.loc[patient_id])
        slices = np.flatnonzero(phantom.nodule_mask.any(axis=(1, 2)))
        assert slices[0] > 0 and slices[-1] < SMALL_CONFIG.n_slices - 1
        assert not np.any(phantom.nodule_mask & ~phantom.lung_mask)
        equivalent = phantom.equivalent_diameter_mm
        assert equivalent == pytest.approx(plan.loc[patient_id, "diameter_mm"], rel=0.15)


def test_nbia_layout(small_cohort: DemoCohort, small_ground_truth: pd.DataFrame) -> None:
    for _, truth in small_ground_truth[small_ground_truth["has_seg"]].iterrows():
        ct_files, seg_file = _series(small_cohort, truth["patient_id"])
        relative = ct_files[0].relative_to(small_cohort.dicom_root).parts
        assert relative[0] == truth["patient_id"]
        study = STUDY.fullmatch(relative[1])
        assert study is not None
        month, day, year, _, suffix = study.groups()
        assert f"{year}-{month}-{day}" == truth["ct_date"]
        assert suffix == truth["study_uid"][-5:]
        series = SERIES.fullmatch(relative[2])
        assert series is not None
        assert series.group(3) == truth["ct_series_uid"][-5:]
        assert [f.name for f in ct_files] == [f"1-{k:03d}.dcm" for k in range(1, len(ct_files) + 1)]
        seg_series = SERIES.fullmatch(seg_file.parent.name)
        assert seg_series is not None
        assert seg_series.group(1) == "1000"
        assert seg_series.group(2) == "3D Slicer segmentation result"
        assert seg_series.group(3) == truth["seg_series_uid"][-5:]
        assert seg_file.parent.parent == ct_files[0].parent.parent
