"""Expression cleaning on the real 1000-gene GSE103584 derivative (log10, then z-scored).

The values are z-scores, so this exercises parsing, the NA policy, imputation and the joins;
a log transform must be refused. Expected values are computed here with plain pandas.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from radiogenomics_assets.cohort.checks import (
    check_all_na_genes,
    check_expression_complete,
    check_mostly_na_patients,
)
from radiogenomics_assets.omics.expression import ExpressionScaleError, clean_expression
from radiogenomics_assets.omics.gene_matrix import top500_whole_cohort, top_genes_for_training
from radiogenomics_assets.omics.geo import read_geo_matrix

EXPRESSION = "nsclc-radiogenomics-rnaseq-derived/df_zscore.csv"


@pytest.fixture(scope="module")
def zscore(shared_data: Path) -> pd.DataFrame:
    return pd.read_csv(shared_data / EXPRESSION, index_col=0)


@pytest.fixture(scope="module")
def long(shared_data: Path) -> pd.DataFrame:
    return read_geo_matrix(shared_data / EXPRESSION).long


def test_cleaned_matrix_matches_plain_pandas(zscore: pd.DataFrame, long: pd.DataFrame) -> None:
    cohort = sorted(zscore.columns)[::2]  # any subset of the RNA-seq patients
    result = clean_expression(long, cohort, transform="none", max_na_fraction=0.1)

    wide = zscore[cohort].T
    na_fraction = wide.isna().mean()
    kept = wide.loc[:, na_fraction <= 0.1]
    expected = kept.fillna(kept.median()).sort_index(axis=1)
    pd.testing.assert_frame_equal(result.matrix, expected, check_names=False, check_exact=False)

    assert result.report.n_genes_in == zscore.shape[0]
    assert set(result.report.dropped_for_na["gene"]) == set(na_fraction.index[na_fraction > 0.1])
    assert result.report.cells_imputed == int(kept.isna().to_numpy().sum())
    assert set(result.report.patients_not_requested) == set(zscore.columns) - set(cohort)
    assert len(result.long) == expected.size


def test_log_transform_of_z_scores_is_refused(long: pd.DataFrame, zscore: pd.DataFrame) -> None:
    with pytest.raises(ExpressionScaleError, match="already log-transformed or z-scored"):
        clean_expression(long, list(zscore.columns))


def test_selection_and_checks_on_real_data(zscore: pd.DataFrame, long: pd.DataFrame) -> None:
    patients = list(zscore.columns)
    matrix = clean_expression(long, patients, transform="none").matrix

    variances = matrix.var(ddof=1)
    expected = sorted(variances.index, key=lambda gene: (-variances[gene], gene))[:500]
    assert list(top500_whole_cohort(matrix).columns) == expected
    train = patients[:90]
    train_variances = matrix.loc[train].var(ddof=1)
    assert (
        top_genes_for_training(matrix, train, n=500)
        == sorted(train_variances.index, key=lambda gene: (-train_variances[gene], gene))[:500]
    )

    assert check_expression_complete(patients, matrix, expected).passed
    assert check_all_na_genes(long).passed == (not zscore.isna().all(axis=1).any())
    worst = zscore.isna().mean(axis=0).max()
    assert check_mostly_na_patients(long, threshold=0.5).passed == (worst <= 0.5)
