from __future__ import annotations

import math
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiogenomics_assets.omics.expression import (
    ExpressionInputError,
    ExpressionScaleError,
    clean_expression,
)
from radiogenomics_assets.omics.geo import GeoMatrixError, read_geo_matrix

PATIENTS = ["P1", "P2", "P3", "P4", "P5"]
NA = float("nan")


def _long(lines: list[tuple[str, list[float]]], patients: list[str] = PATIENTS) -> pd.DataFrame:
    """A raw long table with one GEO line per ``(gene, values)``; lines start at 2."""
    rows = [
        {"patient_id": patient, "gene": gene, "expression": value, "source_line": line}
        for line, (gene, values) in enumerate(lines, start=2)
        for patient, value in zip(patients, values, strict=True)
    ]
    return pd.DataFrame(rows)


LINES = [
    ("G_OK", [1.0, 2.0, 3.0, 4.0, 10.0]),
    ("G_ONE_NA", [5.0, NA, 0.0, 7.0, 2.0]),  # 20 % NA: kept at the default 0.2
    ("G_TWO_NA", [NA, 1.0, NA, 2.0, 3.0]),  # 40 % NA: dropped
    ("G_ALL_NA", [NA, NA, NA, NA, NA]),
]


def test_na_policy_drops_genes_above_the_fraction_and_reports_them() -> None:
    result = clean_expression(_long(LINES), PATIENTS)
    assert list(result.matrix.columns) == ["G_OK", "G_ONE_NA"]
    assert list(result.matrix.index) == PATIENTS
    dropped = dict(
        zip(
            result.report.dropped_for_na["gene"],
            result.report.dropped_for_na["na_fraction"],
            strict=True,
        )
    )
    assert dropped == {"G_ALL_NA": 1.0, "G_TWO_NA": 2 / 5}
    assert result.report.all_na_genes == ("G_ALL_NA",)
    assert result.report.n_genes_in == 4
    assert result.report.n_genes_kept == 2

    looser = clean_expression(_long(LINES), PATIENTS, max_na_fraction=0.5)
    assert list(looser.matrix.columns) == ["G_OK", "G_ONE_NA", "G_TWO_NA"]
    everything = clean_expression(_long(LINES), PATIENTS, max_na_fraction=1.0)
    assert "G_ALL_NA" not in everything.matrix.columns  # nothing to impute from


@pytest.mark.parametrize(
    ("transform", "function"),
    [("log1p", lambda x: math.log(x + 1)), ("log10p", lambda x: math.log10(x + 1)),
     ("none", lambda x: x)],
)  # fmt: skip
def test_transform_then_median_imputation(transform: str, function: object) -> None:
    result = clean_expression(_long(LINES), PATIENTS, transform=transform)  # type: ignore[arg-type]
    expected_ok = [function(x) for x in LINES[0][1]]  # type: ignore[operator]
    assert result.matrix["G_OK"].tolist() == pytest.approx(expected_ok)
    observed = [function(x) for x in LINES[1][1] if not math.isnan(x)]  # type: ignore[operator]
    assert result.matrix.loc["P2", "G_ONE_NA"] == pytest.approx(statistics.median(observed))
    assert result.report.cells_imputed == 1


def test_mean_imputation_and_no_imputation() -> None:
    mean = clean_expression(_long(LINES), PATIENTS, transform="none", impute="gene_mean")
    assert mean.matrix.loc["P2", "G_ONE_NA"] == pytest.approx((5.0 + 0.0 + 7.0 + 2.0) / 4)
    kept = clean_expression(_long(LINES), PATIENTS, impute="none")
    assert math.isnan(kept.matrix.loc["P2", "G_ONE_NA"])
    assert kept.report.cells_imputed == 0


def test_long_form_is_sorted_by_gene_and_flags_imputed_cells() -> None:
    result = clean_expression(_long(LINES), list(reversed(PATIENTS)))
    long = result.long
    assert list(long.columns) == ["gene", "patient_id", "expression", "imputed"]
    pairs = list(zip(long["gene"], long["patient_id"], strict=True))
    assert pairs == sorted(pairs)
    assert long.loc[long["imputed"], ["gene", "patient_id"]].values.tolist() == [["G_ONE_NA", "P2"]]
    back = long.pivot(index="patient_id", columns="gene", values="expression")
    pd.testing.assert_frame_equal(
        back.loc[result.matrix.index, result.matrix.columns],
        result.matrix,
        check_names=False,
    )


def test_duplicate_symbols_are_averaged_by_default_and_reported() -> None:
    lines = [
        ("DUP", [1.0, 2.0, NA, 4.0, 5.0]),
        ("G_OK", [1.0, 1.0, 1.0, 1.0, 2.0]),
        ("DUP", [3.0, 4.0, 6.0, NA, 7.0]),
    ]
    result = clean_expression(_long(lines), PATIENTS, transform="none")
    assert result.matrix["DUP"].tolist() == [2.0, 3.0, 6.0, 4.0, 6.0]
    report = result.report.duplicated_symbols
    assert report.to_dict("records") == [
        {
            "gene": "DUP",
            "n_lines": 2,
            "source_lines": "2, 4",
            "resolution": "mean of the lines, NA ignored",
        }
    ]
    first = clean_expression(_long(lines), PATIENTS, transform="none", duplicates="first")
    assert first.matrix["DUP"].tolist()[:2] == [1.0, 2.0]
    assert first.report.cells_imputed == 1  # P3 on the first DUP line
    with pytest.raises(ExpressionInputError, match=r"DUP \(lines 2, 4\)"):
        clean_expression(_long(lines), PATIENTS, duplicates="error")


def test_negative_values_refuse_a_log_transform() -> None:
    lines = [("G_OK", [0.5, -1.2, 0.3, 0.0, 1.0])]
    with pytest.raises(
        ExpressionScaleError,
        match=r"1 negative .*-1\.2 for gene 'G_OK', patient 'P2'.*transform='none'",
    ):
        clean_expression(_long(lines), PATIENTS)
    with pytest.raises(ExpressionScaleError, match="log10p of a negative value"):
        clean_expression(_long(lines), PATIENTS, transform="log10p")
    assert clean_expression(_long(lines), PATIENTS, transform="none").matrix.shape == (5, 1)


def test_mostly_na_patients_are_reported() -> None:
    lines = [
        ("A", [1.0, NA, 1.0, 2.0, 3.0]),
        ("B", [1.0, NA, 2.0, 2.0, 3.0]),
        ("C", [1.0, 5.0, 3.0, 2.0, 3.0]),
    ]
    result = clean_expression(_long(lines), PATIENTS, max_na_fraction=0.5)
    mostly = result.report.mostly_na_patients
    assert mostly["patient_id"].tolist() == ["P2"]
    assert mostly["na_fraction"].tolist() == pytest.approx([2 / 3])
    assert clean_expression(
        _long(lines), PATIENTS, mostly_na_threshold=0.9
    ).report.mostly_na_patients.empty


def test_patients_outside_the_request_are_reported_and_requested_ones_must_exist() -> None:
    long = _long(LINES[:2])
    result = clean_expression(long, ["P1", "P3", "P4"])
    assert list(result.matrix.index) == ["P1", "P3", "P4"]
    assert result.report.patients_not_requested == ("P2", "P5")
    with pytest.raises(ExpressionInputError, match=r"no measured expression value: \['P9'\]"):
        clean_expression(long, ["P1", "P9"])
    all_na = _long([("G", [NA, 1.0, 1.0, 1.0, 1.0])])
    with pytest.raises(ExpressionInputError, match=r"no measured expression value: \['P1'\]"):
        clean_expression(all_na, ["P1", "P2"])
    with pytest.raises(ExpressionInputError, match=r"listed twice: \['P1'\]"):
        clean_expression(long, ["P1", "P1"])


def test_malformed_long_tables_name_the_cell() -> None:
    long = _long(LINES[:2]).astype({"expression": object})
    long.loc[6, "expression"] = "high"
    with pytest.raises(
        ExpressionInputError, match=r"'high' at source line 3, gene 'G_ONE_NA', patient 'P2'"
    ):
        clean_expression(long, PATIENTS)
    infinite = _long([("G", [1.0, np.inf, 1.0, 1.0, 1.0])])
    with pytest.raises(ExpressionInputError, match="infinite expression value at source line 2"):
        clean_expression(infinite, PATIENTS)
    blank = _long([(" ", [1.0] * 5)])
    with pytest.raises(ExpressionInputError, match="empty gene symbol at source line 2"):
        clean_expression(blank, PATIENTS)
    with pytest.raises(ExpressionInputError, match=r"lacks column\(s\) \['expression'\]"):
        clean_expression(long.drop(columns=["expression"]), PATIENTS)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"transform": "log2"}, "transform must be one of"),
        ({"impute": "knn"}, "impute must be one of"),
        ({"duplicates": "sum"}, "duplicates must be one of"),
        ({"max_na_fraction": 20}, r"max_na_fraction must lie in \[0, 1\], got 20"),
    ],
)
def test_options_are_validated(options: dict[str, object], message: str) -> None:
    with pytest.raises(ExpressionInputError, match=message):
        clean_expression(_long(LINES), PATIENTS, **options)  # type: ignore[arg-type]


def _write_geo(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.write_text("\n".join("\t".join(row) for row in [header, *rows]) + "\n")
    return path


def test_geo_file_with_duplicates_and_na_end_to_end(tmp_path: Path) -> None:
    path = _write_geo(
        tmp_path / "matrix.txt",
        ["", "R01-001", "R01-002", "R01-003"],
        [
            ["TP53", "4", "NA", "0"],
            ["EGFR", "1", "2", "3"],
            ["TP53", "6", "8", "2"],
        ],
    )
    result = clean_expression(read_geo_matrix(path).long, ["R01-001", "R01-002", "R01-003"])
    assert result.matrix["TP53"].tolist() == pytest.approx(
        [math.log1p(5.0), math.log1p(8.0), math.log1p(1.0)]
    )
    assert result.report.duplicated_symbols["source_lines"].tolist() == ["2, 4"]
    assert result.report.cells_imputed == 0


def test_non_numeric_geo_value_names_line_and_column(tmp_path: Path) -> None:
    path = _write_geo(
        tmp_path / "matrix.txt",
        ["", "R01-001", "R01-002"],
        [["TP53", "4", "1"], ["EGFR", "1", "n/d"]],
    )
    with pytest.raises(
        GeoMatrixError, match=r"line 3 \(gene 'EGFR'\), column 3 \(patient 'R01-002'\): 'n/d'$"
    ):
        read_geo_matrix(path)
