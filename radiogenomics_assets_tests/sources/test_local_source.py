"""LocalSource over the demo output and over real TCIA CT files."""

from __future__ import annotations

import os
import re
import shutil
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pydicom
import pytest
from pydicom.uid import PositronEmissionTomographyImageStorage, generate_uid

from radiogenomics_assets.dicom.errors import MixedSeriesError
from radiogenomics_assets.ids import InvalidPatientIdError
from radiogenomics_assets.sources.base import MANIFEST_COLUMNS
from radiogenomics_assets.sources.demo import DemoCohort
from radiogenomics_assets.sources.local import (
    LocalSource,
    LocalSourceError,
    SeriesNotFoundError,
)
from radiogenomics_assets.sources.rejections import rejections_frame

REAL_CT = "nsclc-radiogenomics-ct-r01-partial"


def _expected_manifest(root: Path) -> dict[str, dict[str, object]]:
    """Series read with plain pydicom, independently of LocalSource."""
    files: dict[str, list[Path]] = defaultdict(list)
    datasets = {}
    for path in sorted(root.rglob("*.dcm")):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        files[ds.SeriesInstanceUID].append(path)
        datasets[ds.SeriesInstanceUID] = ds
    expected = {}
    for uid, paths in files.items():
        ds = datasets[uid]
        expected[uid] = {
            "patient_id": ds.PatientID,
            "modality": ds.Modality,
            "study_uid": ds.StudyInstanceUID,
            "instance_count": len(paths),
            "size_bytes": sum(p.stat().st_size for p in paths),
            "source_location": str(paths[0].parent),
            "referenced_series_uid": (
                ds.ReferencedSeriesSequence[0].SeriesInstanceUID if ds.Modality == "SEG" else None
            ),
        }
    return expected


def _check_manifest(manifest: pd.DataFrame, root: Path) -> None:
    assert list(manifest.columns) == list(MANIFEST_COLUMNS)
    expected = _expected_manifest(root)
    assert sorted(manifest["series_uid"]) == sorted(expected)
    for _, row in manifest.iterrows():
        for column, value in expected[row["series_uid"]].items():
            assert row[column] == value, (row["series_uid"], column)


def _source(dicom_root: Path, cohort: DemoCohort) -> LocalSource:
    return LocalSource(dicom_root, cohort.clinical_csv, cohort.rnaseq_matrix)


@pytest.fixture
def tree(tmp_path: Path, small_cohort: DemoCohort) -> Path:
    """A writable copy of the demo DICOM tree."""
    return Path(shutil.copytree(small_cohort.dicom_root, tmp_path / "dicom"))


def _ct_folder(root: Path, patient_id: str) -> Path:
    folders = [p for p in (root / patient_id).glob("*/*") if not p.name.startswith("1000.")]
    assert len(folders) == 1
    return folders[0]


def _seg_file(root: Path, patient_id: str) -> Path:
    return next((root / patient_id).glob("*/1000.*/1-1.dcm"))


def _imaged(truth: pd.DataFrame) -> list[str]:
    return truth.loc[truth["has_seg"], "patient_id"].tolist()


def test_manifest_of_the_demo_cohort(
    small_cohort: DemoCohort, small_ground_truth: pd.DataFrame
) -> None:
    messages: list[str] = []
    listed = _source(small_cohort.dicom_root, small_cohort).imaging_manifest(messages.append)
    assert listed.rejections == () and listed.warnings == ()
    manifest = listed.frame
    _check_manifest(manifest, small_cohort.dicom_root)
    imaged = small_ground_truth[small_ground_truth["has_seg"]].set_index("patient_id")
    ct = manifest[manifest["modality"] == "CT"].set_index("patient_id")
    seg = manifest[manifest["modality"] == "SEG"].set_index("patient_id")
    assert sorted(ct.index) == sorted(seg.index) == sorted(imaged.index)
    assert (ct["series_uid"] == imaged.loc[ct.index, "ct_series_uid"]).all()
    assert (seg["referenced_series_uid"] == ct.loc[seg.index, "series_uid"]).all()
    assert set(ct["instance_count"]) == {small_cohort.config.n_slices}
    assert set(seg["instance_count"]) == {1}
    assert set(seg["series_description"]) == {"3D Slicer segmentation result"}
    assert any(f"found {len(ct)} CT and {len(seg)} SEG series" in m for m in messages)


def test_manifest_of_real_tcia_ct(shared_data: Path, small_cohort: DemoCohort) -> None:
    root = shared_data / REAL_CT
    listed = _source(root, small_cohort).imaging_manifest(lambda _m: None)
    manifest = listed.frame
    _check_manifest(manifest, root)
    assert sorted(manifest["patient_id"]) == ["R01-005", "R01-012"]
    assert set(manifest["instance_count"]) == {10}
    assert manifest["referenced_series_uid"].isna().all()
    not_dicom = sorted(p.name for p in root.iterdir() if p.is_file())
    assert [(r.kind, r.location, r.reason) for r in listed.rejections] == [
        ("dicom_file", name, "not a DICOM file") for name in not_dicom
    ]
    assert {r.source_file for r in listed.rejections} == {str(root)}


def _add_series(template: Path, folder: Path, **changes: str) -> Path:
    ds = pydicom.dcmread(template)
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if "SOPClassUID" in changes:
        ds.file_meta.MediaStorageSOPClassUID = changes["SOPClassUID"]
    folder.mkdir(parents=True)
    path = folder / "1-001.dcm"
    ds.save_as(path)
    return path


def test_manifest_skips_and_reports_what_it_cannot_use(
    tree: Path, small_cohort: DemoCohort, small_ground_truth: pd.DataFrame
) -> None:
    before = _source(tree, small_cohort).imaging_manifest(lambda _m: None).frame
    patient = _imaged(small_ground_truth)[0]
    ct_folder = _ct_folder(tree, patient)
    ct_file = sorted(ct_folder.glob("*.dcm"))[0]
    (tree / "README.txt").write_text("downloaded by hand")
    (ct_folder / "notes.txt").write_text("reader comments")
    pet = _add_series(
        ct_file,
        tree / patient / "pet" / "series",
        Modality="PT",
        SOPClassUID=PositronEmissionTomographyImageStorage,
        SeriesInstanceUID=generate_uid(),
    )
    bad_uid = generate_uid()
    _add_series(ct_file, tree / "odd" / "series", PatientID="R01 001/..", SeriesInstanceUID=bad_uid)
    # A patient with only a PET series never had partitions: its series is refused, not it.
    _add_series(
        ct_file,
        tree / "R01-999" / "pet",
        PatientID="R01-999",
        Modality="PT",
        SOPClassUID=PositronEmissionTomographyImageStorage,
        SeriesInstanceUID=generate_uid(),
    )
    broken = tree / "broken.dcm"
    broken.write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\xff\x7f")

    listed = _source(tree, small_cohort).imaging_manifest(lambda _m: None)
    pd.testing.assert_frame_equal(listed.frame, before)
    refused = rejections_frame(listed.rejections).set_index("location")
    notes = f"{ct_folder.relative_to(tree).as_posix()}/notes.txt"
    assert refused.loc["README.txt", "reason"] == refused.loc[notes, "reason"] == "not a DICOM file"
    assert refused.loc["broken.dcm", "kind"] == "dicom_file"
    assert refused.loc["broken.dcm", "reason"].startswith("DICOM header lacks SOPInstanceUID")
    by_series = {r.location.split()[1]: r for r in listed.rejections if r.kind == "dicom_series"}
    pet_uid = pydicom.dcmread(pet).SeriesInstanceUID
    assert by_series[pet_uid].reason == "Modality 'PT': only CT and SEG series are used"
    assert by_series[pet_uid].patient_id == patient
    assert pet.parent.relative_to(tree).as_posix() in by_series[pet_uid].location
    assert by_series[bad_uid].raw_value == "R01 001/.."
    assert by_series[bad_uid].patient_id is None
    assert "invalid patient id 'R01 001/..'" in by_series[bad_uid].reason
    assert [r.patient_id for r in listed.rejections if r.kind == "dicom_series"].count(
        "R01-999"
    ) == 1
    assert [r.kind for r in listed.rejections].count("patient") == 0
    assert len(listed.rejections) == 6


def _rewrite(path: Path, **changes: object) -> None:
    ds = pydicom.dcmread(path)
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    ds.save_as(path)


def _series_uid(folder: Path) -> str:
    return str(
        pydicom.dcmread(next(folder.glob("*.dcm")), stop_before_pixels=True).SeriesInstanceUID
    )


def test_two_patients_sharing_series_uids_keep_their_own_series(
    tree: Path, small_cohort: DemoCohort, small_ground_truth: pd.DataFrame, tmp_path: Path
) -> None:
    """A de-identification gave patient B's series the UIDs of patient A's, but left the
    reference inside B's SEG at B's original CT UID."""
    good, bad = _imaged(small_ground_truth)[:2]
    before = _source(tree, small_cohort).imaging_manifest(lambda _m: None).frame
    good_ct, good_seg = (
        _series_uid(_ct_folder(tree, good)),
        _series_uid(_seg_file(tree, good).parent),
    )
    for path in _ct_folder(tree, bad).glob("*.dcm"):
        _rewrite(path, SeriesInstanceUID=good_ct)
    _rewrite(_seg_file(tree, bad), SeriesInstanceUID=good_seg)

    listed = _source(tree, small_cohort).imaging_manifest(lambda _m: None)
    manifest = listed.frame
    pd.testing.assert_frame_equal(
        manifest[manifest["patient_id"] == good].reset_index(drop=True),
        before[before["patient_id"] == good].reset_index(drop=True),
    )
    bad_rows = manifest[manifest["patient_id"] == bad]
    assert bad_rows[["modality", "series_uid"]].values.tolist() == [["CT", good_ct]]
    assert [(r.kind, r.patient_id) for r in listed.rejections] == [
        ("dicom_series", bad),
        ("patient", bad),
    ]
    refused = listed.rejections[0]
    old_ct = before.set_index(["patient_id", "modality"]).loc[(bad, "CT"), "series_uid"]
    assert refused.location.startswith(f"series {good_seg} (1 file(s) in {bad}/")
    assert refused.reason == (
        f"the SEG references series {old_ct}, which is not a CT series of patient {bad} "
        f"under {tree}"
    )
    assert sorted(w.split()[2] for w in listed.warnings) == sorted([good_ct, good_seg])
    assert all(f"['{min(good, bad)}', '{max(good, bad)}']" in w for w in listed.warnings)

    # Each patient's fetch of the shared UID gets that patient's own files only.
    for patient in (good, bad):
        dest = tmp_path / patient
        dest.mkdir()
        source = _source(tree, small_cohort)
        source.fetch_series(patient, good_ct, dest, lambda _m: None)
        copied = {pydicom.dcmread(p).PatientID for p in dest.iterdir()}
        assert copied == {patient} and len(list(dest.iterdir())) == small_cohort.config.n_slices


def test_a_patient_whose_every_series_is_refused_is_recorded(
    tree: Path, small_cohort: DemoCohort, small_ground_truth: pd.DataFrame
) -> None:
    patient = _imaged(small_ground_truth)[0]
    first = sorted(_ct_folder(tree, patient).glob("*.dcm"))[0]
    _rewrite(first, StudyInstanceUID=generate_uid())

    listed = _source(tree, small_cohort).imaging_manifest(lambda _m: None)
    assert patient not in set(listed.frame["patient_id"])
    refused = rejections_frame(listed.rejections)
    assert refused["patient_id"].tolist() == [patient] * 3
    assert refused["kind"].tolist() == ["dicom_series", "dicom_series", "patient"]
    assert "disagree on StudyInstanceUID" in refused["reason"].iloc[0]
    assert "is not a CT series of patient" in refused["reason"].iloc[1]
    assert refused["reason"].iloc[2] == (
        f"no SEG series of patient {patient} is left after 2 refused record(s); the patient "
        "gets no partitions"
    )


def test_a_second_copy_of_an_instance_is_recorded_and_not_counted(
    tree: Path, small_cohort: DemoCohort, small_ground_truth: pd.DataFrame, tmp_path: Path
) -> None:
    patient = _imaged(small_ground_truth)[0]
    before = _source(tree, small_cohort).imaging_manifest(lambda _m: None).frame
    original = sorted(_ct_folder(tree, patient).glob("*.dcm"))[0]
    copy = original.with_name("zz-copy.dcm")
    shutil.copyfile(original, copy)

    listed = _source(tree, small_cohort).imaging_manifest(lambda _m: None)
    pd.testing.assert_frame_equal(listed.frame, before)
    (refused,) = listed.rejections
    assert (refused.kind, refused.location) == ("dicom_file", copy.relative_to(tree).as_posix())
    sop = pydicom.dcmread(original).SOPInstanceUID
    assert refused.reason.startswith(f"a second file of SOPInstanceUID {sop}")
    assert refused.reason.endswith(f"{original.relative_to(tree).as_posix()} is used")
    dest = tmp_path / "out"
    dest.mkdir()
    ct_uid = small_ground_truth.set_index("patient_id").loc[patient, "ct_series_uid"]
    _source(tree, small_cohort).fetch_series(patient, ct_uid, dest, lambda _m: None)
    assert len(list(dest.iterdir())) == small_cohort.config.n_slices


def test_a_seg_referencing_two_series_is_refused(
    tree: Path, small_cohort: DemoCohort, small_ground_truth: pd.DataFrame
) -> None:
    patient = _imaged(small_ground_truth)[0]
    seg = _seg_file(tree, patient)
    ds = pydicom.dcmread(seg)
    extra = pydicom.Dataset()
    extra.SeriesInstanceUID = generate_uid()
    ds.ReferencedSeriesSequence.append(extra)
    ds.save_as(seg)

    listed = _source(tree, small_cohort).imaging_manifest(lambda _m: None)
    refused, lost = listed.rejections
    assert (refused.kind, refused.patient_id) == ("dicom_series", patient)
    assert (lost.kind, lost.patient_id) == ("patient", patient)
    assert "the SEG references 2 series" in refused.reason
    assert extra.SeriesInstanceUID in refused.reason


def test_fetch_series_copies_every_instance_by_sop_uid(
    tree: Path, small_cohort: DemoCohort, small_ground_truth: pd.DataFrame, tmp_path: Path
) -> None:
    patient = _imaged(small_ground_truth)[-1]
    source = _source(tree, small_cohort)
    (_ct_folder(tree, patient) / "Thumbs.db").write_bytes(b"not dicom")
    truth = small_ground_truth.set_index("patient_id").loc[patient]
    dest = tmp_path / "out"
    dest.mkdir()
    messages: list[str] = []
    origins = source.fetch_series(patient, truth["ct_series_uid"], dest, messages.append)
    originals = {}
    for path in _ct_folder(tree, patient).glob("*.dcm"):
        originals[pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID] = path
    copied = sorted(dest.iterdir())
    assert len(copied) == small_cohort.config.n_slices
    assert {p.name for p in copied} == {f"{uid}.dcm" for uid in originals}
    for path in copied:
        assert path.read_bytes() == originals[path.stem].read_bytes()
    # The user's file behind each renamed copy, for messages about the copy.
    assert origins == {f"{uid}.dcm": str(path) for uid, path in originals.items()}
    assert any("Thumbs.db" in m for m in messages)

    seg_dest = tmp_path / "seg"
    seg_dest.mkdir()
    source.fetch_series(patient, truth["seg_series_uid"], seg_dest, lambda _m: None)
    assert len(list(seg_dest.iterdir())) == 1


def test_fetch_series_refuses_a_file_of_another_series(
    tree: Path, small_cohort: DemoCohort, small_ground_truth: pd.DataFrame, tmp_path: Path
) -> None:
    patient = _imaged(small_ground_truth)[0]
    truth = small_ground_truth.set_index("patient_id").loc[patient]
    stray = _ct_folder(tree, patient) / "1-999.dcm"
    shutil.copyfile(_seg_file(tree, patient), stray)
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(MixedSeriesError, match=rf"{re.escape(str(stray))} belongs to series"):
        _source(tree, small_cohort).fetch_series(
            patient, truth["ct_series_uid"], dest, lambda _m: None
        )


def test_fetch_series_refuses_another_patients_series(
    small_cohort: DemoCohort, small_ground_truth: pd.DataFrame, tmp_path: Path
) -> None:
    first, second = _imaged(small_ground_truth)[:2]
    uid = small_ground_truth.set_index("patient_id").loc[first, "ct_series_uid"]
    dest = tmp_path / "out"
    dest.mkdir()
    # A series is (patient, UID): another patient's UID is not this patient's series.
    with pytest.raises(SeriesNotFoundError, match=rf"series {re.escape(uid)} of patient {second}"):
        _source(small_cohort.dicom_root, small_cohort).fetch_series(
            second, uid, dest, lambda _m: None
        )


def test_fetch_series_argument_errors(
    small_cohort: DemoCohort, small_ground_truth: pd.DataFrame, tmp_path: Path
) -> None:
    source = _source(small_cohort.dicom_root, small_cohort)
    patient = _imaged(small_ground_truth)[0]
    dest = tmp_path / "out"
    dest.mkdir()
    missing = generate_uid()
    with pytest.raises(SeriesNotFoundError, match=rf"series {re.escape(missing)} of patient"):
        source.fetch_series(patient, missing, dest, lambda _m: None)
    with pytest.raises(LocalSourceError, match="is not a valid DICOM UID"):
        source.fetch_series(patient, "1.2.abc", dest, lambda _m: None)
    with pytest.raises(InvalidPatientIdError, match=r"invalid patient id '\.\./x'"):
        source.fetch_series("../x", missing, dest, lambda _m: None)
    (dest / "left-over").write_text("x")
    uid = small_ground_truth.set_index("patient_id").loc[patient, "ct_series_uid"]
    with pytest.raises(LocalSourceError, match="must be an existing, empty folder"):
        source.fetch_series(patient, uid, dest, lambda _m: None)
    with pytest.raises(LocalSourceError, match="is not a folder"):
        LocalSource(tmp_path / "nowhere", tmp_path, tmp_path).imaging_manifest(lambda _m: None)


def test_fetch_real_tcia_series(
    shared_data: Path, small_cohort: DemoCohort, tmp_path: Path
) -> None:
    root = shared_data / REAL_CT
    source = _source(root, small_cohort)
    manifest = source.imaging_manifest(lambda _m: None).frame
    row = manifest[manifest["patient_id"] == "R01-012"].iloc[0]
    dest = tmp_path / "out"
    dest.mkdir()
    source.fetch_series("R01-012", row["series_uid"], dest, lambda _m: None)
    copied = sorted(dest.iterdir())
    assert len(copied) == row["instance_count"]
    for path in copied:
        assert pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID == path.stem


def test_text_inputs_are_copied_atomically(small_cohort: DemoCohort, tmp_path: Path) -> None:
    source = _source(small_cohort.dicom_root, small_cohort)
    messages: list[str] = []
    source.fetch_clinical_labels(tmp_path / "raw" / "labels.csv", messages.append)
    source.fetch_rnaseq_matrix(tmp_path / "raw" / "matrix.txt.gz", messages.append)
    assert (tmp_path / "raw" / "labels.csv").read_bytes() == small_cohort.clinical_csv.read_bytes()
    matrix = (tmp_path / "raw" / "matrix.txt.gz").read_bytes()
    assert matrix == small_cohort.rnaseq_matrix.read_bytes()
    assert sorted(os.listdir(tmp_path / "raw")) == ["labels.csv", "matrix.txt.gz"]
    assert len(messages) == 2

    missing = LocalSource(small_cohort.dicom_root, tmp_path / "none.csv", tmp_path / "none.gz")
    with pytest.raises(LocalSourceError, match=r"clinical labels CSV not found at .*none\.csv"):
        missing.fetch_clinical_labels(tmp_path / "raw" / "again.csv", lambda _m: None)
    with pytest.raises(LocalSourceError, match=r"RNA-seq matrix not found at .*none\.gz"):
        missing.fetch_rnaseq_matrix(tmp_path / "raw" / "again.gz", lambda _m: None)
    assert sorted(os.listdir(tmp_path / "raw")) == ["labels.csv", "matrix.txt.gz"]


def test_describe_names_the_inputs(small_cohort: DemoCohort) -> None:
    described = _source(small_cohort.dicom_root, small_cohort).describe()
    assert described["source"] == "local"
    assert described["offline"] == "True"
    assert described["dicom_root"] == str(small_cohort.dicom_root)


def test_a_real_seg_without_its_ct_is_refused_with_its_patient(
    shared_data: Path, small_cohort: DemoCohort, tmp_path: Path
) -> None:
    """dcmqi's published liver SEG and the 3 CT slices it was drawn on (real files)."""
    root = Path(shutil.copytree(shared_data / "dicom-seg-example-dcmqi", tmp_path / "dcmqi"))
    seg = pydicom.dcmread(root / "liver_seg.dcm", stop_before_pixels=True)
    ct_uid = seg.ReferencedSeriesSequence[0].SeriesInstanceUID
    whole = _source(root, small_cohort).imaging_manifest(lambda _m: None)
    assert whole.frame.set_index("modality").loc["SEG", "referenced_series_uid"] == ct_uid
    assert whole.frame.set_index("modality").loc["CT", "series_uid"] == ct_uid

    shutil.rmtree(root / "ct-3slice")
    listed = _source(root, small_cohort).imaging_manifest(lambda _m: None)
    assert listed.frame.empty
    refused = rejections_frame(listed.rejections).set_index("kind")
    assert refused.loc["dicom_series", "reason"] == (
        f"the SEG references series {ct_uid}, which is not a CT series of patient "
        f"{seg.PatientID} under {root}"
    )
    assert refused.loc["patient", "patient_id"] == seg.PatientID


def test_a_patients_ct_stored_outside_their_folder_is_found(
    tree: Path, small_cohort: DemoCohort, small_ground_truth: pd.DataFrame, tmp_path: Path
) -> None:
    """A download that put one series beside the patients' folders: the patient's folder holds
    the SEG, the CT it references lies elsewhere under the root. The patient keeps both."""
    patient = _imaged(small_ground_truth)[0]
    truth = small_ground_truth.set_index("patient_id").loc[patient]
    ct_folder = _ct_folder(tree, patient)
    shutil.move(ct_folder, tree / "unsorted" / ct_folder.name)
    source = _source(tree, small_cohort)

    rows = source.patient_series(patient, lambda _m: None).set_index("modality")

    assert rows.loc["SEG", "referenced_series_uid"] == truth["ct_series_uid"]
    assert rows.loc["CT", "series_uid"] == truth["ct_series_uid"]
    assert rows.loc["CT", "source_location"] == str(tree / "unsorted" / ct_folder.name)
    dest = tmp_path / "ct"
    dest.mkdir()
    source.fetch_series(patient, truth["ct_series_uid"], dest, lambda _m: None)
    assert len(list(dest.iterdir())) == small_cohort.config.n_slices


def test_a_symlinked_patient_folder_is_read(
    tree: Path, small_cohort: DemoCohort, small_ground_truth: pd.DataFrame, tmp_path: Path
) -> None:
    """A patient folder linked into the root (a download kept on another disk) is part of the
    tree; a link that loops back is not followed twice."""
    patient = _imaged(small_ground_truth)[0]
    source = _source(tree, small_cohort)
    series = ["patient_id", "series_uid", "instance_count", "size_bytes"]
    before = source.imaging_manifest(lambda _m: None).frame[series]
    elsewhere = Path(shutil.move(tree / patient, tmp_path / "other_disk" / patient))
    (tree / patient).symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / "loop").symlink_to(tree, target_is_directory=True)

    listed = source.imaging_manifest(lambda _m: None)

    assert not listed.rejections
    pd.testing.assert_frame_equal(listed.frame[series], before)
    rows = source.patient_series(patient, lambda _m: None)
    assert sorted(rows["modality"]) == ["CT", "SEG"]


def test_macos_companion_files_beside_the_dicom_are_skipped(
    tree: Path, small_cohort: DemoCohort, small_ground_truth: pd.DataFrame, tmp_path: Path
) -> None:
    """A tree copied from a Mac to a foreign disk: an AppleDouble ``._1-1.dcm`` beside every
    file, named like DICOM but not DICOM. The good series are read and fetched whole."""
    patient = _imaged(small_ground_truth)[0]
    truth = small_ground_truth.set_index("patient_id").loc[patient]
    source = _source(tree, small_cohort)
    before = source.imaging_manifest(lambda _m: None).frame
    for path in [p for p in (tree / patient).rglob("*") if p.is_file()]:
        (path.parent / f"._{path.name}").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00" * 64)

    listed = source.imaging_manifest(lambda _m: None)

    assert not listed.rejections
    pd.testing.assert_frame_equal(listed.frame, before)
    dest, messages = tmp_path / "ct", []
    dest.mkdir()
    source.fetch_series(patient, truth["ct_series_uid"], dest, messages.append)
    assert len(list(dest.iterdir())) == small_cohort.config.n_slices
    assert any("macOS companion" in m for m in messages)
