"""Bad input at the raw layer: a clear error naming the file or id, only that patient fails."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance, materialize

from radiogenomics_assets.assets.raw import (
    clinical_labels,
    ct_series,
    imaging_manifest,
    nodule_segmentation,
    rnaseq_expression,
)
from radiogenomics_assets.registration import register_patients_from_store
from radiogenomics_assets.resources.source import LocalSourceResource
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

    result = materialize([clinical_labels], resources=resources_for(store, source))
    assert result.success
    with store.get_connection() as conn:
        kept = conn.execute("SELECT patient_id FROM raw.clinical_labels").fetchdf()
        rejected = conn.execute("SELECT * FROM raw.rejected_records").fetchdf()
    assert victim not in set(kept["patient_id"]) and len(kept) == len(frame) - 1
    assert rejected["raw_value"].tolist() == ["R01-001'; DROP TABLE x;--"]
    assert "invalid patient id" in rejected["reason"].iloc[0]


def test_a_clinical_csv_without_a_required_column_names_it(small_cohort, store, tmp_path) -> None:
    source, _ = _local_copy(small_cohort, tmp_path)
    csv = Path(source.clinical_csv)
    pd.read_csv(csv, dtype=str).drop(columns=["CT Date"]).to_csv(csv, index=False)
    result = materialize(
        [clinical_labels], resources=resources_for(store, source), raise_on_error=False
    )
    assert not result.success
    assert "required column(s) missing: CT Date" in _failure_message(result)


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
    assert f"at line 4 (gene {cells[0]!r}), column {patient!r}" in _failure_message(result)
