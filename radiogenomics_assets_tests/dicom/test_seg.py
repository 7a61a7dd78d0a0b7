from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from radiogenomics_assets.dicom.errors import (
    EmptySegmentError,
    FrameOfReferenceMismatchError,
    InconsistentGeometryError,
    MaskOutsideVolumeError,
    MissingReferencedInstanceError,
    NoNoduleSegmentError,
    PatientMismatchError,
    ReferencedSeriesMismatchError,
    UnsupportedDicomError,
    WrongModalityError,
)
from radiogenomics_assets.dicom.seg import decode_segmentation
from radiogenomics_assets.dicom.series import read_ct_series
from radiogenomics_assets_tests.dicom.synthetic import (
    SyntheticCt,
    build_seg,
    nodule_description,
    organ_description,
    save,
    sphere,
)


def rewrite_seg(path: Path, change: Callable[[Dataset], None]) -> Path:
    dataset = pydicom.dcmread(path)
    change(dataset)
    dataset.save_as(path)
    return path


def shift_frames(dataset: Dataset, dz: float) -> None:
    for item in dataset.PerFrameFunctionalGroupsSequence:
        position = item.PlanePositionSequence[0].ImagePositionPatient
        position[2] = float(position[2]) + dz


def test_decodes_the_nodule_voxel_for_voxel(synthetic_ct: SyntheticCt, seg_path: Path) -> None:
    ct = read_ct_series(synthetic_ct.paths, patient_id="SYN-001")
    nodule = decode_segmentation(seg_path, ct)
    np.testing.assert_array_equal(nodule.mask, synthetic_ct.nodule)
    assert nodule.voxel_count == int(synthetic_ct.nodule.sum())
    assert nodule.volume_mm3 == pytest.approx(
        synthetic_ct.nodule.sum() * np.prod(synthetic_ct.spacing)
    )
    assert (nodule.segment_number, nodule.segment_label) == (1, "Nodule")
    assert nodule.selection_rule == "property_type"
    assert nodule.seg_series_uid == pydicom.dcmread(seg_path).SeriesInstanceUID


def test_agrees_with_highdicom_source_instance_indexing(
    synthetic_ct: SyntheticCt, seg_path: Path
) -> None:
    ct = read_ct_series(synthetic_ct.paths)
    reference = hd.seg.segread(seg_path).get_pixels_by_source_instance(
        list(ct.sop_instance_uids), segment_numbers=[1], assert_missing_frames_are_empty=True
    )[..., 0]
    np.testing.assert_array_equal(decode_segmentation(seg_path, ct).mask, reference > 0)


def test_frames_without_source_references_are_placed_by_position(
    synthetic_ct: SyntheticCt, seg_path: Path
) -> None:
    def strip(dataset: Dataset) -> None:
        for item in dataset.PerFrameFunctionalGroupsSequence:
            del item.DerivationImageSequence
        del dataset.ReferencedSeriesSequence

    rewrite_seg(seg_path, strip)
    ct = read_ct_series(synthetic_ct.paths)
    np.testing.assert_array_equal(decode_segmentation(seg_path, ct).mask, synthetic_ct.nodule)


def test_frame_of_reference_mismatch(synthetic_ct: SyntheticCt, seg_path: Path) -> None:
    other = generate_uid()
    rewrite_seg(seg_path, lambda d: setattr(d, "FrameOfReferenceUID", other))
    ct = read_ct_series(synthetic_ct.paths, patient_id="SYN-001")
    with pytest.raises(
        FrameOfReferenceMismatchError,
        match=rf"patient SYN-001, SEG .*seg\.dcm.*{other} differs from .*"
        rf"{synthetic_ct.frame_of_reference_uid}",
    ):
        decode_segmentation(seg_path, ct)


def test_missing_referenced_instances(synthetic_ct: SyntheticCt, seg_path: Path) -> None:
    ct = read_ct_series(synthetic_ct.paths[1:], patient_id="SYN-001")
    missing = synthetic_ct.datasets[0].SOPInstanceUID
    with pytest.raises(
        MissingReferencedInstanceError, match=rf"SYN-001.*1 of 12 referenced.*11 slices.*{missing}"
    ):
        decode_segmentation(seg_path, ct)


def test_referenced_series_mismatch(synthetic_ct: SyntheticCt, seg_path: Path) -> None:
    other = generate_uid()
    rewrite_seg(
        seg_path, lambda d: setattr(d.ReferencedSeriesSequence[0], "SeriesInstanceUID", other)
    )
    ct = read_ct_series(synthetic_ct.paths)
    with pytest.raises(ReferencedSeriesMismatchError, match=rf"references series {other}"):
        decode_segmentation(seg_path, ct)


def test_empty_segment(synthetic_ct: SyntheticCt, seg_path: Path) -> None:
    rewrite_seg(seg_path, lambda d: setattr(d, "PixelData", bytes(len(d.PixelData))))
    ct = read_ct_series(synthetic_ct.paths, patient_id="SYN-001")
    with pytest.raises(EmptySegmentError, match=r"SYN-001.*#1 'Nodule'.*no foreground"):
        decode_segmentation(seg_path, ct)


def test_mask_that_touches_no_ct_slice(synthetic_ct: SyntheticCt, seg_path: Path) -> None:
    rewrite_seg(seg_path, lambda d: shift_frames(d, 100.0))
    ct = read_ct_series(synthetic_ct.paths, patient_id="SYN-001")
    with pytest.raises(MaskOutsideVolumeError, match=r"SYN-001.*4 of 4 .*touches no CT slice"):
        decode_segmentation(seg_path, ct)


def test_mask_partly_outside_the_ct(synthetic_ct: SyntheticCt, tmp_path: Path) -> None:
    # A nodule on the top slice, then the CT without that slice (still regular).
    top = sphere(synthetic_ct.nodule.shape, synthetic_ct.spacing, (11, 24, 24), 3.0)
    seg = save(build_seg(synthetic_ct, top), tmp_path / "top.dcm")

    def forget_top(dataset: Dataset) -> None:
        dataset.ReferencedSeriesSequence[0].ReferencedInstanceSequence = [
            item
            for item in dataset.ReferencedSeriesSequence[0].ReferencedInstanceSequence
            if item.ReferencedSOPInstanceUID != synthetic_ct.datasets[11].SOPInstanceUID
        ]
        for item in dataset.PerFrameFunctionalGroupsSequence:
            del item.DerivationImageSequence

    rewrite_seg(seg, forget_top)
    ct = read_ct_series(synthetic_ct.paths[:11])
    with pytest.raises(MaskOutsideVolumeError, match=r"1 of \d+ .*part of the mask is cut off"):
        decode_segmentation(seg, ct)


@pytest.mark.parametrize(
    ("dz", "message"), [(1.25, "between slices"), (2.5, "references SOP .* but lies on slice")]
)
def test_frames_off_their_referenced_slices(
    synthetic_ct: SyntheticCt, seg_path: Path, dz: float, message: str
) -> None:
    rewrite_seg(seg_path, lambda d: shift_frames(d, dz))
    ct = read_ct_series(synthetic_ct.paths)
    with pytest.raises(InconsistentGeometryError, match=message):
        decode_segmentation(seg_path, ct)


def test_seg_pixel_spacing_must_match_the_ct(synthetic_ct: SyntheticCt, seg_path: Path) -> None:
    def respace(dataset: Dataset) -> None:
        measures = dataset.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
        measures.PixelSpacing = [0.7, 0.7]

    rewrite_seg(seg_path, respace)
    ct = read_ct_series(synthetic_ct.paths)
    with pytest.raises(InconsistentGeometryError, match=r"PixelSpacing \[0\.7, 0\.7\] differs"):
        decode_segmentation(seg_path, ct)


def test_a_ct_file_is_not_a_seg(synthetic_ct: SyntheticCt) -> None:
    ct = read_ct_series(synthetic_ct.paths)
    with pytest.raises(WrongModalityError, match="Modality is 'CT', expected 'SEG'"):
        decode_segmentation(synthetic_ct.paths[0], ct)


def test_seg_of_another_patient(synthetic_ct: SyntheticCt, seg_path: Path) -> None:
    rewrite_seg(seg_path, lambda d: setattr(d, "PatientID", "R01-999"))
    ct = read_ct_series(synthetic_ct.paths, patient_id="SYN-001")
    with pytest.raises(PatientMismatchError, match="PatientID is 'R01-999', not 'SYN-001'"):
        decode_segmentation(seg_path, ct)


def test_several_segments_pick_the_nodule(synthetic_ct: SyntheticCt, tmp_path: Path) -> None:
    lung = np.ones_like(synthetic_ct.nodule)
    lung[:, :, :4] = False
    seg = build_seg(
        synthetic_ct, [lung, synthetic_ct.nodule], [organ_description(1), nodule_description(2)]
    )
    path = save(seg, tmp_path / "two.dcm")
    ct = read_ct_series(synthetic_ct.paths)
    chosen = decode_segmentation(path, ct)
    assert (chosen.segment_number, chosen.selection_rule) == (2, "property_type")
    np.testing.assert_array_equal(chosen.mask, synthetic_ct.nodule)
    explicit = decode_segmentation(path, ct, segment_number=1)
    np.testing.assert_array_equal(explicit.mask, lung)
    assert explicit.selection_rule == "explicit"


def test_two_nodule_segments_are_ambiguous(synthetic_ct: SyntheticCt, tmp_path: Path) -> None:
    other = sphere(synthetic_ct.nodule.shape, synthetic_ct.spacing, (2, 8, 8), 2.0)
    seg = build_seg(
        synthetic_ct,
        [synthetic_ct.nodule, other],
        [nodule_description(1, "Nodule A"), nodule_description(2, "Nodule B")],
    )
    path = save(seg, tmp_path / "two.dcm")
    ct = read_ct_series(synthetic_ct.paths)
    with pytest.raises(NoNoduleSegmentError, match=r"2 segments qualify.*pass segment_number"):
        decode_segmentation(path, ct)
    assert decode_segmentation(path, ct, segment_number=2).voxel_count == int(other.sum())


def test_labelmap_seg(synthetic_ct: SyntheticCt, tmp_path: Path) -> None:
    lung = np.zeros_like(synthetic_ct.nodule)
    lung[:, 2:10, 2:40] = True
    seg = build_seg(
        synthetic_ct,
        [lung, synthetic_ct.nodule],
        [organ_description(1), nodule_description(2)],
        kind="LABELMAP",
    )
    assert seg.SegmentationType == "LABELMAP"
    path = save(seg, tmp_path / "labelmap.dcm")
    ct = read_ct_series(synthetic_ct.paths)
    chosen = decode_segmentation(path, ct)
    assert (chosen.segment_number, chosen.selection_rule) == (2, "property_type")
    np.testing.assert_array_equal(chosen.mask, synthetic_ct.nodule)
    np.testing.assert_array_equal(decode_segmentation(path, ct, segment_number=1).mask, lung)


def test_fractional_seg_is_thresholded_at_one_half(
    synthetic_ct: SyntheticCt, tmp_path: Path
) -> None:
    faint = np.zeros(synthetic_ct.nodule.shape, dtype=np.float32)
    faint[:, :, :5] = 0.3  # below one half: not part of the nodule
    fractions = np.where(synthetic_ct.nodule, 0.8, faint)
    path = save(build_seg(synthetic_ct, fractions, kind="FRACTIONAL"), tmp_path / "frac.dcm")
    ct = read_ct_series(synthetic_ct.paths)
    np.testing.assert_array_equal(decode_segmentation(path, ct).mask, synthetic_ct.nodule)


def test_duplicated_instance_references_are_tolerated(
    synthetic_ct: SyntheticCt, seg_path: Path
) -> None:
    # Early 3D Slicer SEGs in NSCLC-Radiogenomics list some referenced instances twice.
    def duplicate(dataset: Dataset) -> None:
        items = dataset.ReferencedSeriesSequence[0].ReferencedInstanceSequence
        items.append(copy.deepcopy(items[0]))

    rewrite_seg(seg_path, duplicate)
    ct = read_ct_series(synthetic_ct.paths)
    np.testing.assert_array_equal(decode_segmentation(seg_path, ct).mask, synthetic_ct.nodule)


def test_a_seg_highdicom_cannot_parse(synthetic_ct: SyntheticCt, seg_path: Path) -> None:
    rewrite_seg(seg_path, lambda d: delattr(d, "SegmentSequence"))
    ct = read_ct_series(synthetic_ct.paths)
    with pytest.raises(UnsupportedDicomError, match=r"seg\.dcm .*highdicom cannot read the SEG"):
        decode_segmentation(seg_path, ct)
