from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radiogenomics_assets.omics.gene_matrix import (
    GeneSelectionError,
    top500_whole_cohort,
    top_genes_for_training,
)


def _matrix() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    scales = np.linspace(0.1, 3.0, 12)
    data = rng.normal(size=(20, 12)) * scales
    return pd.DataFrame(
        data,
        index=[f"P{i:02d}" for i in range(20)],
        columns=[f"G{j:02d}" for j in range(12)],
    )


def test_whole_cohort_selection_ranks_by_variance_over_every_patient() -> None:
    matrix = _matrix()
    selected = top500_whole_cohort(matrix, n=4)
    variances = {gene: float(np.var(matrix[gene].to_numpy(), ddof=1)) for gene in matrix}
    expected = sorted(variances, key=lambda gene: -variances[gene])[:4]
    assert list(selected.columns) == expected
    assert list(selected.index) == list(matrix.index)
    assert top500_whole_cohort(matrix).shape == matrix.shape  # fewer than 500 genes: all kept


def test_fold_selection_ignores_the_held_out_rows() -> None:
    matrix = _matrix()
    train = list(matrix.index[:14])
    before = top_genes_for_training(matrix, train, n=3)
    poisoned = matrix.copy()
    poisoned.loc[matrix.index[14:], "G00"] *= 1e6  # a dull gene made wild in held-out rows only
    assert top_genes_for_training(poisoned, train, n=3) == before
    assert "G00" in top500_whole_cohort(poisoned, n=1).columns


def test_bad_training_ids_are_named() -> None:
    matrix = _matrix()
    with pytest.raises(GeneSelectionError, match=r"not in the expression matrix: \['P99'\]"):
        top_genes_for_training(matrix, ["P00", "P99"])
    with pytest.raises(GeneSelectionError, match=r"listed twice: \['P00'\]"):
        top_genes_for_training(matrix, ["P00", "P00", "P01"])
    doubled = pd.concat([matrix, matrix.iloc[:1]])
    with pytest.raises(GeneSelectionError, match=r"patient\(s\) \['P00'\] twice"):
        top500_whole_cohort(doubled)
