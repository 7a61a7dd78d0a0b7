"""The RNA-seq matrix: GEO's layout, NA pattern and positive values."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd

from radiogenomics_assets.omics.geo import read_geo_matrix
from radiogenomics_assets.sources.demo import DemoCohort


def _lines(cohort: DemoCohort) -> list[str]:
    with gzip.open(cohort.rnaseq_matrix, "rt", encoding="utf-8") as handle:
        return handle.read().splitlines()


def test_gzip_with_a_leading_empty_header_cell(small_cohort: DemoCohort) -> None:
    assert small_cohort.rnaseq_matrix.read_bytes()[:2] == b"\x1f\x8b"
    header = _lines(small_cohort)[0].split("\t")
    assert header[0] == ""
    assert len(header) == len(set(header))


def test_columns_are_exactly_the_patients_with_rnaseq(
    small_cohort: DemoCohort, small_ground_truth: pd.DataFrame
) -> None:
    header = _lines(small_cohort)[0].split("\t")[1:]
    expected = small_ground_truth.loc[small_ground_truth["has_rnaseq"], "patient_id"]
    assert sorted(header) == sorted(expected)
    assert all(p.startswith("R01-") for p in header)


def test_values_are_positive_floats_or_na(small_cohort: DemoCohort) -> None:
    rows = [line.split("\t") for line in _lines(small_cohort)[1:]]
    assert len(rows) == small_cohort.config.n_genes
    cells = [cell for row in rows for cell in row[1:]]
    missing = [c for c in cells if c == "NA"]
    values = np.array([float(c) for c in cells if c != "NA"])
    assert missing
    assert len(missing) + values.size == len(cells)
    assert (values > 0).all()
    genes = [row[0] for row in rows]
    assert len(set(genes)) == len(genes)


def test_na_concentrates_in_some_genes(small_cohort: DemoCohort) -> None:
    matrix = pd.read_csv(
        small_cohort.rnaseq_matrix, sep="\t", index_col=0, na_values=["NA"], keep_default_na=False
    )
    share = matrix.isna().mean(axis=1)
    assert (share == 1.0).sum() == 1
    assert (share > 0.2).sum() >= 3
    assert (share == 0).mean() > 0.4


def test_the_project_parser_reads_it(small_cohort: DemoCohort) -> None:
    parsed = read_geo_matrix(small_cohort.rnaseq_matrix)
    assert parsed.rejected == ()
    n_columns = len(_lines(small_cohort)[0].split("\t")) - 1
    assert len(parsed.long) == n_columns * small_cohort.config.n_genes
