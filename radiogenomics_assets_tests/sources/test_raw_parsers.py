"""The raw parsers on the real files and on the GEO layout."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiogenomics_assets.omics.geo import GeoMatrixError, read_geo_matrix
from radiogenomics_assets.sources.clinical_csv import (
    ClinicalCsvError,
    read_clinical_labels,
    snake_case,
)

CLINICAL = (
    "nsclc-radiogenomics-clinical/NSCLCR01Radiogenomic_DATA_LABELS_2018-05-22_1500-shifted.csv"
)
ZSCORE = "nsclc-radiogenomics-rnaseq-derived/df_zscore.csv"


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("Case ID", "patient_id"),
        ("Patient ID", "patient_id"),
        ("Histology ", "histology"),
        ("%GG", "pct_gg"),
        ("Tumor Location (choice=L Lingula)", "tumor_location_l_lingula"),
        ("Weight (lbs)", "weight_lbs"),
        ("Days between CT and surgery", "days_between_ct_and_surgery"),
    ],
)
def test_snake_case_names(header: str, name: str) -> None:
    assert snake_case(header) == name


def test_the_real_clinical_csv_parses_with_values_as_written(shared_data: Path) -> None:
    path = shared_data / CLINICAL
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    parsed = read_clinical_labels(path)
    assert parsed.rejected.empty
    assert len(parsed.frame) == len(rows)
    by_id = parsed.frame.set_index("patient_id")
    for row in rows[:: max(1, len(rows) // 20)]:
        assert by_id.loc[row["Case ID"], "recurrence"] == row["Recurrence"]
        assert by_id.loc[row["Case ID"], "ct_date"] == row["CT Date"]


def test_a_repeated_patient_id_names_both_lines(tmp_path: Path, shared_data: Path) -> None:
    lines = (shared_data / CLINICAL).read_text().splitlines()
    path = tmp_path / "labels.csv"
    path.write_text("\n".join([*lines[:3], lines[2]]) + "\n")
    with pytest.raises(ClinicalCsvError, match=r"appears on lines 3 and 4"):
        read_clinical_labels(path)


def test_the_real_derivative_parses_with_na_as_null(shared_data: Path) -> None:
    path = shared_data / ZSCORE
    reference = pd.read_csv(path, index_col=0)
    long = read_geo_matrix(path).long
    assert len(long) == reference.size
    assert long["expression"].isna().sum() == reference.isna().sum().sum()
    stacked = reference.stack()  # drops NaN: a measured cell
    gene, patient = stacked.index[len(stacked) // 3]
    value = long.query("gene == @gene and patient_id == @patient")["expression"].item()
    assert value == pytest.approx(reference.loc[gene, patient])


def test_geo_layout_gzip_tab_leading_empty_cell(tmp_path: Path) -> None:
    path = tmp_path / "GSE.txt.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("\tR01-001\tR01-002\nA1BG\t1.5\tNA\nA2M\t0\t3.25\n")
    long = read_geo_matrix(path).long
    assert long.shape == (4, 4)
    a1bg = long[long["gene"] == "A1BG"].set_index("patient_id")["expression"]
    assert a1bg["R01-001"] == 1.5 and np.isnan(a1bg["R01-002"])
    assert set(long["source_line"]) == {2, 3}


def test_geo_columns_with_unsafe_ids_are_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "m.txt"
    path.write_text("\tR01-001\t../etc\nA1BG\t1\t2\n")
    matrix = read_geo_matrix(path)
    assert set(matrix.long["patient_id"]) == {"R01-001"}
    assert matrix.rejected_columns["raw_patient_id"].tolist() == ["../etc"]


def test_geo_repeated_patient_column_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "m.txt"
    path.write_text("\tR01-001\tR01-001\nA1BG\t1\t2\n")
    with pytest.raises(GeoMatrixError, match="'R01-001' appears twice"):
        read_geo_matrix(path)
