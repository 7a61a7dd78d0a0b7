from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from radiogenomics_assets.dicom.errors import (
    DicomValidationError,
    DuplicateInstanceError,
    EmptySeriesError,
    MissingAttributeError,
    MixedSeriesError,
    NotDicomError,
    PatientMismatchError,
    SeveralReferencedSeriesError,
    TruncatedDicomError,
    WrongModalityError,
)
from radiogenomics_assets.dicom.headers import (
    check_series_files,
    inspect_dicom_file,
    read_series_instances,
    referenced_series_uid,
)
from radiogenomics_assets_tests.dicom.synthetic import SyntheticCt, write_ct_series

UID = "1.2.3.4"


def test_inspect_reads_identity_without_pixels(synthetic_ct: SyntheticCt) -> None:
    header = inspect_dicom_file(synthetic_ct.paths[0])
    source = synthetic_ct.datasets[0]
    assert header.sop_instance_uid == source.SOPInstanceUID
    assert header.series_uid == synthetic_ct.series_uid
    assert header.modality == "CT"
    assert header.patient_id == synthetic_ct.patient_id
    assert "PixelData" not in header.dataset


def test_all_errors_are_value_errors() -> None:
    assert issubclass(DicomValidationError, ValueError)
    assert issubclass(TruncatedDicomError, DicomValidationError)


def test_a_text_file_is_not_dicom(tmp_path: Path) -> None:
    path = tmp_path / "notes.dcm"
    path.write_text("this is not a DICOM file\n")
    with pytest.raises(NotDicomError, match=r"notes\.dcm is not a DICOM file"):
        inspect_dicom_file(path)


@pytest.mark.parametrize("keep_fraction", [0.999, 0.5, 0.05])
def test_truncated_files_are_refused(
    synthetic_ct: SyntheticCt, tmp_path: Path, keep_fraction: float
) -> None:
    data = synthetic_ct.paths[0].read_bytes()
    path = tmp_path / "cut.dcm"
    path.write_bytes(data[: int(len(data) * keep_fraction)])
    with pytest.raises(TruncatedDicomError, match=r"cut\.dcm"):
        inspect_dicom_file(path)


def test_truncation_right_after_the_pixel_element_header(
    synthetic_ct: SyntheticCt, tmp_path: Path
) -> None:
    data = synthetic_ct.paths[0].read_bytes()
    pixel_bytes = synthetic_ct.datasets[0].Rows * synthetic_ct.datasets[0].Columns * 2
    path = tmp_path / "cut.dcm"
    path.write_bytes(data[: len(data) - pixel_bytes])
    with pytest.raises(TruncatedDicomError, match=rf"announces {pixel_bytes} bytes but only 0"):
        inspect_dicom_file(path)


def test_a_file_cut_inside_the_preamble_reads_as_not_dicom(
    synthetic_ct: SyntheticCt, tmp_path: Path
) -> None:
    path = tmp_path / "stub.dcm"
    path.write_bytes(synthetic_ct.paths[0].read_bytes()[:64])
    with pytest.raises(NotDicomError, match=r"stub\.dcm"):
        inspect_dicom_file(path)


def test_pixel_data_shorter_than_the_header_describes(
    synthetic_ct: SyntheticCt, tmp_path: Path
) -> None:
    dataset = pydicom.dcmread(synthetic_ct.paths[0])
    dataset.PixelData = dataset.PixelData[:100]
    path = tmp_path / "short.dcm"
    dataset.save_as(path)
    with pytest.raises(TruncatedDicomError, match=r"holds 100 bytes.*needs 4608"):
        inspect_dicom_file(path)


def test_header_without_series_uid(synthetic_ct: SyntheticCt, tmp_path: Path) -> None:
    dataset = pydicom.dcmread(synthetic_ct.paths[0])
    del dataset.SeriesInstanceUID
    path = tmp_path / "anon.dcm"
    dataset.save_as(path)
    with pytest.raises(
        MissingAttributeError, match=r"anon\.dcm: DICOM header lacks SeriesInstanceUID"
    ):
        inspect_dicom_file(path)


def test_check_series_files_accepts_one_series(synthetic_ct: SyntheticCt) -> None:
    headers = check_series_files(synthetic_ct.paths, synthetic_ct.series_uid)
    assert [h.path for h in headers] == synthetic_ct.paths


def test_check_series_files_names_the_stray_file(synthetic_ct: SyntheticCt, tmp_path: Path) -> None:
    other = write_ct_series(tmp_path / "other", shape=(2, 8, 8))
    paths = [*synthetic_ct.paths, other.paths[1]]
    with pytest.raises(
        MixedSeriesError,
        match=rf"{other.paths[1].name} belongs to series '{other.series_uid}', "
        rf"not {synthetic_ct.series_uid}",
    ):
        check_series_files(paths, synthetic_ct.series_uid)
    with pytest.raises(MixedSeriesError, match=r"files mix 2 series"):
        check_series_files(paths)


def test_check_series_files_refuses_duplicate_instances(
    synthetic_ct: SyntheticCt, tmp_path: Path
) -> None:
    copy = tmp_path / "copy.dcm"
    copy.write_bytes(synthetic_ct.paths[3].read_bytes())
    with pytest.raises(DuplicateInstanceError, match=synthetic_ct.datasets[3].SOPInstanceUID):
        check_series_files([*synthetic_ct.paths, copy])


def test_check_series_files_refuses_nothing() -> None:
    with pytest.raises(EmptySeriesError, match=r"no DICOM files given for series 1\.2\.3"):
        check_series_files([], "1.2.3")


def test_read_series_instances_gives_raw_table_fields(
    synthetic_ct: SyntheticCt, seg_path: Path
) -> None:
    headers = read_series_instances(
        list(reversed(synthetic_ct.paths)),
        expected_series_uid=synthetic_ct.series_uid,
        expected_modality="CT",
    )
    assert [h.path for h in headers] == sorted(synthetic_ct.paths)
    first = next(h for h in headers if h.path == synthetic_ct.paths[0])
    assert first.instance_number == synthetic_ct.datasets[0].InstanceNumber
    assert first.frame_of_reference_uid == synthetic_ct.frame_of_reference_uid
    assert first.referenced_series_uid is None
    (seg,) = read_series_instances(
        [seg_path],
        expected_series_uid=pydicom.dcmread(seg_path).SeriesInstanceUID,
        expected_modality="SEG",
    )
    assert seg.referenced_series_uid == synthetic_ct.series_uid


def test_read_series_instances_refuses_bad_files(
    synthetic_ct: SyntheticCt, seg_path: Path, tmp_path: Path
) -> None:
    seg_uid = pydicom.dcmread(seg_path).SeriesInstanceUID
    with pytest.raises(WrongModalityError, match=r"Modality 'SEG', expected 'CT'"):
        read_series_instances([seg_path], expected_series_uid=seg_uid, expected_modality="CT")
    with pytest.raises(MixedSeriesError, match=rf"belongs to series .*, not {UID}"):
        read_series_instances(
            synthetic_ct.paths[:1], expected_series_uid=UID, expected_modality="CT"
        )
    copy = tmp_path / "copy.dcm"
    copy.write_bytes(synthetic_ct.paths[0].read_bytes())
    with pytest.raises(MixedSeriesError, match="is in both"):
        read_series_instances(
            [*synthetic_ct.paths, copy],
            expected_series_uid=synthetic_ct.series_uid,
            expected_modality="CT",
        )
    with pytest.raises(WrongModalityError, match="expected 'MR'"):
        read_series_instances(
            synthetic_ct.paths, expected_series_uid=synthetic_ct.series_uid, expected_modality="MR"
        )


def test_read_series_instances_names_files_and_checks_the_patient(
    synthetic_ct: SyntheticCt,
) -> None:
    with pytest.raises(
        PatientMismatchError,
        match=r"instance slice-\S+ of my series .*patient 'SYN-001', not R01-005",
    ):
        read_series_instances(
            synthetic_ct.paths,
            expected_series_uid=synthetic_ct.series_uid,
            expected_modality="CT",
            expected_patient_id="R01-005",
            name=lambda path: f"instance {path.stem} of my series",
        )


def test_a_seg_referencing_several_series_is_refused(seg_path: Path) -> None:
    dataset = pydicom.dcmread(seg_path)
    assert (
        referenced_series_uid(dataset, "seg")
        == dataset.ReferencedSeriesSequence[0].SeriesInstanceUID
    )
    other = pydicom.Dataset()
    other.SeriesInstanceUID = "1.2.3.4.5"
    study = pydicom.Dataset()
    study.ReferencedSeriesSequence = [other]
    dataset.StudiesContainingOtherReferencedInstancesSequence = [study]
    with pytest.raises(SeveralReferencedSeriesError, match=r"seg: the SEG references 2 series"):
        referenced_series_uid(dataset, "seg")
    del dataset.ReferencedSeriesSequence
    assert referenced_series_uid(dataset, "seg") == "1.2.3.4.5"
