"""Bad input at the raw layer: a clear error naming the file or id, only that patient fails."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pandas as pd
import pydicom
import pytest
from dagster import AssetCheckSeverity, DagsterInstance, materialize

from radiogenomics_assets.defs.assets.raw import (
    clinical_labels,
    ct_series,
    imaging_manifest,
    nodule_segmentation,
    rnaseq_expression,
)
from radiogenomics_assets.defs.checks.intake import intake_checks
from radiogenomics_assets.defs.names import PATIENTS_PARTITIONS
from radiogenomics_assets.defs.registration import register_patients_from_store
from radiogenomics_assets.defs.resources.source import LocalSourceResource
from radiogenomics_assets_tests.dagster_layer.conftest import resources_for


def _local_copy(small_cohort, tmp_path: Path) -> tuple[LocalSourceResource, Path]:
    root = tmp_path / "download"
    shutil.copytree(small_cohort.root, root)
    source = LocalSourceResource(
        dicom_root=str(root / small_cohort.dicom_root.relative_to(small_cohort.root)),
        clinical_csv=str(root / small_cohort.clinical_csv.relative_to(small_cohort.root)),
        rnaseq_matrix=str(root / small_cohort.rnaseq_matrix.relative_to(small_cohort.root)),
    )
    return source, Path(source.dicom_root)


def _with_rnaseq(source: LocalSourceResource, matrix: Path) -> LocalSourceResource:
    return LocalSourceResource(
        dicom_root=source.dicom_root, clinical_csv=source.clinical_csv, rnaseq_matrix=str(matrix)
    )


def _ct_files(dicom_root: Path, patient: str) -> list[Path]:
    folders = [f for f in (dicom_root / patient).glob("*/*") if len(list(f.glob("*.dcm"))) > 1]
    return sorted(folders[0].glob("*.dcm"))


def _failure_message(result) -> str:
    return " ".join(
        e.step_failure_data.error.to_string() for e in result.all_events if e.is_step_failure
    )


def test_a_bad_file_fails_only_its_patient(small_cohort, store, tmp_path: Path) -> None:
    source, dicom_root = _local_copy(small_cohort, tmp_path)
    instance = DagsterInstance.ephemeral()
    resources = resources_for(store, source)
    assert materialize([imaging_manifest], instance=instance, resources=resources).success
    patients = register_patients_from_store(instance, store)
    not_dicom, truncated, mixed, *healthy = patients
    assert healthy, "the small cohort must leave at least one patient untouched"

    garbage = _ct_files(dicom_root, not_dicom)[2]
    garbage.write_bytes(b"<html>502 Bad Gateway</html>")
    cut = _ct_files(dicom_root, truncated)[1]
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    stray = _ct_files(dicom_root, healthy[0])[0]
    intruder = _ct_files(dicom_root, mixed)[0].parent / "1-999.dcm"
    shutil.copyfile(stray, intruder)

    expected = {not_dicom: garbage.name, truncated: cut.name, mixed: intruder.name}
    for patient in patients:
        result = materialize(
            [nodule_segmentation, ct_series],
            partition_key=patient,
            instance=instance,
            resources=resources,
            raise_on_error=False,
        )
        if patient in expected:
            assert not result.success, patient
            assert expected[patient] in _failure_message(result), patient
        else:
            assert result.success, _failure_message(result)

    with store.get_connection() as conn:
        stored = conn.execute("SELECT DISTINCT patient_id FROM raw.ct_series").fetchdf()
    assert sorted(stored["patient_id"]) == sorted(healthy)


def test_clinical_ids_with_odd_characters_are_set_aside(small_cohort, store, tmp_path) -> None:
    source, _ = _local_copy(small_cohort, tmp_path)
    csv = Path(source.clinical_csv)
    frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
    victim = frame.loc[0, "Case ID"]
    frame.loc[0, "Case ID"] = "R01-001'; DROP TABLE x;--"
    frame.to_csv(csv, index=False)

    check = next(
        c for c in intake_checks for k in c.check_keys if k.asset_key == clinical_labels.key
    )
    result = materialize([clinical_labels, check], resources=resources_for(store, source))
    assert result.success
    with store.get_connection() as conn:
        kept = conn.execute("SELECT patient_id FROM raw.clinical_labels").fetchdf()
        rejected = conn.execute("SELECT * FROM raw.rejected_records").fetchdf()
    assert victim not in set(kept["patient_id"]) and len(kept) == len(frame) - 1
    assert rejected["raw_value"].tolist() == ["R01-001'; DROP TABLE x;--"]
    assert rejected["recorded_by"].tolist() == ["raw/clinical_labels"]
    assert rejected["kind"].tolist() == ["clinical_row"]
    assert "invalid patient id" in rejected["reason"].iloc[0]
    # The user's file and line, not the store's copy.
    assert rejected[["source_file", "location"]].values.tolist() == [[str(csv.resolve()), "line 2"]]
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.severity == AssetCheckSeverity.WARN
    assert f"{csv.resolve()} line 2: invalid patient id" in evaluation.description

    # The corrected file replaces the records with its rows, in the same transaction.
    frame.loc[0, "Case ID"] = victim
    frame.to_csv(csv, index=False)
    result = materialize([clinical_labels, check], resources=resources_for(store, source))
    with store.get_connection() as conn:
        assert conn.execute("SELECT count(*) FROM raw.rejected_records").fetchone() == (0,)
    assert result.get_asset_check_evaluations()[0].passed


def test_a_clinical_csv_without_a_required_column_names_it(small_cohort, store, tmp_path) -> None:
    source, _ = _local_copy(small_cohort, tmp_path)
    csv = Path(source.clinical_csv)
    pd.read_csv(csv, dtype=str).drop(columns=["CT Date"]).to_csv(csv, index=False)
    result = materialize(
        [clinical_labels], resources=resources_for(store, source), raise_on_error=False
    )
    assert not result.success
    message = _failure_message(result)
    assert f"{csv.resolve()}: required column(s) missing: CT Date" in message
    assert str(store.files.root) not in message


@pytest.mark.parametrize("bad_value", ["12,5", "high"])
def test_a_non_numeric_expression_value_names_line_and_patient(
    small_cohort, store, tmp_path, bad_value
) -> None:
    import gzip

    source, _ = _local_copy(small_cohort, tmp_path)
    matrix = Path(source.rnaseq_matrix)
    with gzip.open(matrix, "rt") as handle:
        lines = handle.read().splitlines()
    cells = lines[3].split("\t")
    cells[2] = bad_value
    lines[3] = "\t".join(cells)
    with gzip.open(matrix, "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    patient = lines[0].split("\t")[2]
    result = materialize(
        [rnaseq_expression], resources=resources_for(store, source), raise_on_error=False
    )
    assert not result.success
    message = _failure_message(result)
    assert f"{matrix.resolve()}: 1 expression value(s) are not finite numbers" in message
    assert f"line 4 (gene {cells[0]!r}), column 3 (patient {patient!r}): {bad_value!r}" in message


def _seg_file(dicom_root: Path, patient: str) -> Path:
    (seg,) = [
        path
        for path in (dicom_root / patient).glob("*/*/*.dcm")
        if pydicom.dcmread(path, stop_before_pixels=True).Modality == "SEG"
    ]
    return seg


def _restamp(paths: list[Path], series_uid: str) -> None:
    for path in paths:
        dataset = pydicom.dcmread(path)
        dataset.SeriesInstanceUID = series_uid
        dataset.save_as(path)


def test_a_series_uid_collision_keeps_the_good_patient_and_names_the_bad_records(
    small_cohort, store, tmp_path: Path
) -> None:
    """De-identification gave patient B's CT and SEG the series UIDs of patient A's, but left
    B's SEG referencing B's original CT. A keeps its partitions; B's SEG is refused, and so B
    leaves the partitions with a record saying why."""
    source, dicom_root = _local_copy(small_cohort, tmp_path)
    instance = DagsterInstance.ephemeral()
    resources = resources_for(store, source)
    check = next(
        c for c in intake_checks for k in c.check_keys if k.asset_key == imaging_manifest.key
    )
    assert materialize([imaging_manifest, check], instance=instance, resources=resources).success
    good, bad = register_patients_from_store(instance, store)[:2]
    good_ct = str(pydicom.dcmread(_ct_files(dicom_root, good)[0]).SeriesInstanceUID)
    good_seg = str(pydicom.dcmread(_seg_file(dicom_root, good)).SeriesInstanceUID)
    _restamp(_ct_files(dicom_root, bad), good_ct)
    _restamp([_seg_file(dicom_root, bad)], good_seg)

    result = materialize([imaging_manifest, check], instance=instance, resources=resources)
    assert result.success
    register_patients_from_store(instance, store)
    partitions = set(instance.get_dynamic_partitions(PATIENTS_PARTITIONS))
    assert good in partitions and bad not in partitions
    with store.get_connection() as conn:
        rejected = conn.execute("SELECT * FROM raw.rejected_records ORDER BY kind").fetchdf()
    assert rejected[["recorded_by", "kind", "patient_id"]].values.tolist() == [
        ["raw/imaging_manifest", "dicom_series", bad],
        ["raw/imaging_manifest", "patient", bad],
    ]
    assert rejected["location"].iloc[0].startswith(f"series {good_seg} (1 file(s) in {bad}/")
    assert f"which is not a CT series of patient {bad}" in rejected["reason"].iloc[0]
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.severity == AssetCheckSeverity.WARN
    assert f"series {good_seg}" in evaluation.description
    assert f"patient {bad}: no SEG series of patient {bad} is left" in evaluation.description
    warned = [
        e.user_message for e in instance.all_logs(result.run_id) if e.level == logging.WARNING
    ]
    assert any(m.startswith(f"refused: {dicom_root} series {good_seg}") for m in warned)
    assert any(
        f"series UID {good_ct} is carried by the instances of 2 patients" in m for m in warned
    )

    good_run = materialize(
        [nodule_segmentation, ct_series],
        partition_key=good,
        instance=instance,
        resources=resources,
        raise_on_error=False,
    )
    assert good_run.success, _failure_message(good_run)
    with store.get_connection() as conn:
        stored = conn.execute(
            "SELECT patient_id, series_uid, count(*) AS n FROM raw.ct_series GROUP BY ALL"
        ).fetchall()
    assert stored == [(good, good_ct, small_cohort.config.n_slices)]


def test_the_geo_series_matrix_as_rnaseq_names_the_file_to_use(
    small_cohort, store, tmp_path, shared_data
) -> None:
    source, _ = _local_copy(small_cohort, tmp_path)
    series_matrix = shared_data / "nsclc-radiogenomics-rnaseq-derived/GSE103584_series_matrix.txt"
    source = _with_rnaseq(source, series_matrix)
    result = materialize(
        [rnaseq_expression], resources=resources_for(store, source), raise_on_error=False
    )
    assert not result.success
    message = _failure_message(result)
    assert f"{series_matrix} is a GEO series matrix" in message
    assert "Use GSE103584_R01_NSCLC_RNAseq.txt.gz" in message


def test_a_plain_text_matrix_is_stored_under_a_plain_name(small_cohort, store, tmp_path) -> None:
    import gzip

    source, _ = _local_copy(small_cohort, tmp_path)
    plain = tmp_path / "matrix.txt"
    plain.write_bytes(gzip.decompress(Path(source.rnaseq_matrix).read_bytes()))
    source = _with_rnaseq(source, plain)
    assert materialize([rnaseq_expression], resources=resources_for(store, source)).success
    (stored,) = store.files.path("raw", "rnaseq_expression").iterdir()
    assert stored.name.endswith(".txt") and stored.read_bytes() == plain.read_bytes()


def _pixel_spacing_holder(path: Path) -> tuple[pydicom.Dataset, pydicom.Dataset]:
    """The dataset and the item that carries its PixelSpacing (a SEG keeps it in a group)."""
    dataset = pydicom.dcmread(path)
    if "PixelSpacing" in dataset:
        return dataset, dataset
    return dataset, dataset.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]


@pytest.mark.parametrize("modality", ["CT", "SEG"])
def test_an_imaging_error_names_the_users_file_not_the_stores_copy(
    small_cohort, store, tmp_path: Path, modality: str
) -> None:
    """A file that passes intake but not the nodule's geometry checks: the error names the
    patient and the file the user gave, not its renamed copy under files/raw/."""
    from radiogenomics_assets.defs.assets.imaging import nodule_volume
    from radiogenomics_assets.dicom.errors import InconsistentGeometryError

    source, dicom_root = _local_copy(small_cohort, tmp_path)
    instance = DagsterInstance.ephemeral()
    resources = resources_for(store, source)
    assert materialize([imaging_manifest], instance=instance, resources=resources).success
    patient = register_patients_from_store(instance, store)[0]
    # Headers stay complete and of the series: only the grid, checked with the pixels, is off.
    victim = (
        _ct_files(dicom_root, patient)[3] if modality == "CT" else _seg_file(dicom_root, patient)
    )
    dataset, holder = _pixel_spacing_holder(victim)
    holder.PixelSpacing = [2 * float(v) for v in holder.PixelSpacing]
    dataset.save_as(victim)

    result = materialize(
        [nodule_segmentation, ct_series, nodule_volume],
        partition_key=patient,
        instance=instance,
        resources=resources,
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "features__nodule_volume"
    error = failure.step_failure_data.error
    while error.cls_name != "InconsistentGeometryError":  # Dagster wraps the user's error
        error = error.cause
    assert error.message.startswith(f"{InconsistentGeometryError.__module__}.")
    assert f"patient {patient}" in error.message
    assert str(victim) in error.message
    assert str(store.files.root) not in error.message and "files/raw/" not in error.message
    # The store's copy is still in the chained cause, for whoever inspects the store.
    assert "files/raw/" in error.cause.message


def test_an_imaging_error_naming_no_file_gets_the_users_series(store) -> None:
    from radiogenomics_assets.defs.assets.imaging import _for_the_user
    from radiogenomics_assets.dicom.errors import FrameOfReferenceMismatchError

    folder = "/data/dicom/R01-001/ct"
    rows = pd.DataFrame(
        {
            "series_uid": ["1.2.3", "1.2.3"],
            "path": ["raw/ct/R01-001/1.2.3/d/1.dcm", "raw/ct/R01-001/1.2.3/d/2.dcm"],
            "source_file": [f"{folder}/1-1.dcm", f"{folder}/1-2.dcm"],
        }
    )
    error = FrameOfReferenceMismatchError("CT series 1.2.3: slices span 2 FrameOfReferenceUIDs")
    named = _for_the_user(error, "R01-001", store, {"CT": rows})
    assert type(named) is FrameOfReferenceMismatchError
    assert str(named) == f"patient R01-001: {error} (CT series 1.2.3 from {folder})"
    # Rows stored before source_file was recorded name no user file: the message stays.
    before = _for_the_user(error, "R01-001", store, {"CT": rows.drop(columns="source_file")})
    assert str(before) == f"patient R01-001: {error}"
