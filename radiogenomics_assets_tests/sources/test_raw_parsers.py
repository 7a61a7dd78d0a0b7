"""The raw parsers on the real files and on the GEO layout."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiogenomics_assets.omics.geo import (
    GEO_EXPRESSION_FILE,
    MAX_LISTED_CELLS,
    GeoMatrixError,
    matrix_suffix,
    read_geo_matrix,
)
from radiogenomics_assets.sources.clinical_csv import (
    ClinicalCsvError,
    read_clinical_labels,
    snake_case,
)
from radiogenomics_assets.sources.remote_files import DEFAULT_RNASEQ_URL

CLINICAL = (
    "nsclc-radiogenomics-clinical/NSCLCR01Radiogenomic_DATA_LABELS_2018-05-22_1500-shifted.csv"
)
ZSCORE = "nsclc-radiogenomics-rnaseq-derived/df_zscore.csv"
SERIES_MATRIX = "nsclc-radiogenomics-rnaseq-derived/GSE103584_series_matrix.txt"


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
    assert parsed.rejected == ()
    assert len(parsed.frame) == len(rows)
    by_id = parsed.frame.set_index("patient_id")
    for row in rows[:: max(1, len(rows) // 20)]:
        assert by_id.loc[row["Case ID"], "recurrence"] == row["Recurrence"]
        assert by_id.loc[row["Case ID"], "ct_date"] == row["CT Date"]


def _with_lines(tmp_path: Path, shared_data: Path, pick) -> Path:
    lines = (shared_data / CLINICAL).read_text().splitlines()
    path = tmp_path / "labels.csv"
    path.write_text("\n".join(pick(lines)) + "\n")
    return path


def test_a_patient_id_on_two_differing_rows_refuses_both_and_keeps_the_rest(
    tmp_path: Path, shared_data: Path
) -> None:
    original = (shared_data / CLINICAL).read_text().splitlines()
    changed = original[2].replace(original[2].split(",")[1], "999", 1)
    assert changed != original[2]
    path = _with_lines(tmp_path, shared_data, lambda lines: [*lines[:5], changed])

    parsed = read_clinical_labels(path, display_name="~/labels/my.csv")
    patient = original[2].split(",")[0]
    assert patient not in set(parsed.frame["patient_id"])
    assert len(parsed.frame) == 3  # lines 2, 4 and 5
    assert [(r.location, r.patient_id) for r in parsed.rejected] == [
        ("line 3", patient),
        ("line 6", patient),
    ]
    assert {r.source_file for r in parsed.rejected} == {"~/labels/my.csv"}
    assert "also on line(s) 6" in parsed.rejected[0].reason
    assert "also on line(s) 3" in parsed.rejected[1].reason


def test_an_identical_repeated_row_keeps_the_first(tmp_path: Path, shared_data: Path) -> None:
    path = _with_lines(tmp_path, shared_data, lambda lines: [*lines[:3], lines[2]])
    parsed = read_clinical_labels(path)
    assert parsed.frame["source_row"].tolist() == [2, 3]
    (copy,) = parsed.rejected
    assert (copy.kind, copy.location) == ("clinical_row", "line 4")
    assert "identical copy of line 3" in copy.reason


def test_a_row_with_too_few_cells_is_refused_by_line(tmp_path: Path, shared_data: Path) -> None:
    path = _with_lines(tmp_path, shared_data, lambda lines: [*lines[:3], "R01-999,yes"])
    parsed = read_clinical_labels(path, display_name="labels.csv")
    (short,) = parsed.rejected
    assert (short.location, short.raw_value) == ("line 4", "R01-999")
    assert short.reason.startswith("2 cells, the header has ")


def test_a_whole_file_error_names_the_users_file(tmp_path: Path, shared_data: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("Case ID,Recurrence\nR01-001,yes\n")
    with pytest.raises(ClinicalCsvError, match=r"^/data/labels\.csv: required column\(s\) missing"):
        read_clinical_labels(path, display_name="/data/labels.csv")


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
    matrix = read_geo_matrix(path, display_name="https://example.org/m.txt")
    assert set(matrix.long["patient_id"]) == {"R01-001"}
    (column,) = matrix.rejected
    assert (column.kind, column.location, column.raw_value) == (
        "expression_column",
        "column 3",
        "../etc",
    )
    assert column.source_file == "https://example.org/m.txt"


def test_geo_repeated_patient_column_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "m.txt"
    path.write_text("\tR01-001\tR01-001\nA1BG\t1\t2\n")
    with pytest.raises(GeoMatrixError, match="'R01-001' appears twice"):
        read_geo_matrix(path)


def test_every_non_numeric_cell_is_listed_up_to_the_limit(tmp_path: Path) -> None:
    patients = [f"R01-{i:03d}" for i in range(1, 4)]
    rows = [["G0", "1", "2", "3"]]
    bad = []
    for n in range(1, MAX_LISTED_CELLS + 4):
        value = f"x{n}"
        rows.append([f"G{n}", "1", value, "NA"])
        bad.append((n + 2, f"G{n}", value))
    path = tmp_path / "m.txt"
    path.write_text("\t".join(["", *patients]) + "\n" + "\n".join("\t".join(r) for r in rows))

    with pytest.raises(GeoMatrixError) as raised:
        read_geo_matrix(path, display_name="/home/me/GSE.txt")
    message = str(raised.value)
    assert message.startswith(
        f"/home/me/GSE.txt: {len(bad)} expression value(s) are not finite numbers"
    )
    for line, gene, value in bad[:MAX_LISTED_CELLS]:
        assert f"line {line} (gene {gene!r}), column 3 (patient 'R01-002'): {value!r}" in message
    assert repr(bad[MAX_LISTED_CELLS][2]) not in message
    assert message.endswith(f"and {len(bad) - MAX_LISTED_CELLS} more")


def test_a_row_with_too_many_cells_names_its_line_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "m.txt"
    path.write_text("\tR01-001\nA1BG\t1\nA2M\t2\t3\n")
    with pytest.raises(GeoMatrixError, match=r"^m\.txt line 3 has 3 cells, the header line has 2$"):
        read_geo_matrix(path, display_name="m.txt")


def test_short_rows_are_refused_rather_than_read_as_missing(tmp_path: Path) -> None:
    path = tmp_path / "m.txt"
    path.write_text("\tR01-001\tR01-002\nA1BG\t1\t2\nA2M\t2\nB2M\t\t\n")
    with pytest.raises(
        GeoMatrixError, match=r"^m\.txt: 1 row\(s\) have fewer cells .*line 3 \(2\)$"
    ):
        read_geo_matrix(path, display_name="m.txt")


def test_the_geo_series_matrix_is_refused_with_the_file_to_use(shared_data: Path) -> None:
    path = shared_data / SERIES_MATRIX
    with pytest.raises(GeoMatrixError) as raised:
        read_geo_matrix(path, display_name="GSE103584_series_matrix.txt")
    message = str(raised.value)
    assert message.startswith("GSE103584_series_matrix.txt is a GEO series matrix")
    assert "no expression values" in message
    assert "GSE103584_R01_NSCLC_RNAseq.txt.gz" in message
    assert DEFAULT_RNASEQ_URL.endswith("/" + GEO_EXPRESSION_FILE)


@pytest.mark.parametrize(
    ("text", "gzipped", "suffix"),
    [
        ("\tR01-001\nA\t1\n", True, ".txt.gz"),
        ("\tR01-001\nA\t1\n", False, ".txt"),
        (",R01-001\nA,1\n", False, ".csv"),
    ],
)
def test_a_matrix_is_named_by_what_it_holds(
    tmp_path: Path, text: str, gzipped: bool, suffix: str
) -> None:
    path = tmp_path / "matrix.txt.gz"  # the name says gzip; only the bytes count
    path.write_bytes(gzip.compress(text.encode()) if gzipped else text.encode())
    assert matrix_suffix(path) == suffix
    assert len(read_geo_matrix(path).long) == 1


def test_a_clinical_csv_in_a_legacy_encoding_names_its_line(
    tmp_path: Path, shared_data: Path
) -> None:
    path = _with_lines(tmp_path, shared_data, lambda lines: [*lines[:3], lines[3] + "é"])
    path.write_bytes(b"\xef\xbb\xbf" + path.read_text(encoding="utf-8").encode("latin-1"))
    with pytest.raises(ClinicalCsvError) as raised:
        read_clinical_labels(path, display_name="/data/labels.csv")
    assert str(raised.value).startswith("/data/labels.csv line 4: byte 0xe9 is not UTF-8 text")
    assert "CSV UTF-8" in str(raised.value)


def test_a_truncated_gzip_matrix_is_named(tmp_path: Path) -> None:
    rows = "".join(f"G{n}\t{n}.5\t{n}.25\n" for n in range(20_000))
    whole = gzip.compress(f"\tR01-001\tR01-002\n{rows}".encode())
    path = tmp_path / "GSE.txt.gz"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(GeoMatrixError, match=r"^/dl/GSE\.txt\.gz: the gzip file is truncated"):
        read_geo_matrix(path, display_name="/dl/GSE.txt.gz")


def test_a_matrix_that_is_not_utf8_text_is_named(tmp_path: Path) -> None:
    path = tmp_path / "m.txt"
    path.write_bytes("\tR01-001\nA1BG\t1\nGÈNE\t2\n".encode("latin-1"))
    with pytest.raises(GeoMatrixError, match=r"^m\.txt: the matrix is not UTF-8 text"):
        read_geo_matrix(path, display_name="m.txt")


@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity"])
def test_an_infinite_expression_value_is_refused_by_cell(tmp_path: Path, value: str) -> None:
    path = tmp_path / "m.txt"
    path.write_text(f"\tR01-001\tR01-002\nA1BG\t1\t2\nA2M\t{value}\t3\n")
    with pytest.raises(GeoMatrixError) as raised:
        read_geo_matrix(path, display_name="m.txt")
    assert str(raised.value).startswith("m.txt: 1 expression value(s) are not finite numbers")
    assert f"line 3 (gene 'A2M'), column 2 (patient 'R01-001'): {value!r}" in str(raised.value)
