"""The two ways to pick "the top 500 most variant genes" from the cleaned matrix.

- :func:`top500_whole_cohort`: ranked on every cohort patient, as the paper's text reads. It
  exists for comparison only (asset ``features/gene_matrix_top500``): the ranking has seen the
  expression of the patients each fold later tests on.
- :func:`top_genes_for_training`: ranked on one fold's training rows only. **The models use this
  one** (or, equivalently, ``TopVarianceSelector`` fitted inside their pipeline), which is also
  what the paper's own code does (its linear models pick the top 500 genes by training-set
  spread).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


class GeneSelectionError(ValueError):
    """The matrix or the training rows cannot support the selection (named)."""


def _check_matrix(matrix: pd.DataFrame) -> None:
    if matrix.index.duplicated().any():
        raise GeneSelectionError(
            f"matrix lists patient(s) {sorted(matrix.index[matrix.index.duplicated()].unique())} "
            "twice"
        )
    if matrix.columns.duplicated().any():
        raise GeneSelectionError(
            f"matrix lists gene(s) {sorted(matrix.columns[matrix.columns.duplicated()].unique())} "
            "twice"
        )


def top500_whole_cohort(matrix: pd.DataFrame, n: int = 500) -> pd.DataFrame:
    """``matrix`` (patients × genes) restricted to its ``n`` most variant genes, in rank order.

    Raises:
        GeneSelectionError: a patient or gene is listed twice.
        ValueError: ``n`` is not positive or fewer than two patients (from ``top_variance_genes``).
    """
    from radiogenomics_assets.omics.selection import top_variance_genes  # imports scikit-learn

    _check_matrix(matrix)
    return matrix.loc[:, top_variance_genes(matrix, n)]


def top_genes_for_training(
    matrix: pd.DataFrame, train_ids: Sequence[str], n: int = 500
) -> list[str]:
    """The ``n`` most variant genes over the rows ``train_ids`` of ``matrix`` only.

    Raises:
        GeneSelectionError: a patient or gene is listed twice, a training id is repeated or
            absent from the matrix (named).
        ValueError: ``n`` is not positive or fewer than two training rows.
    """
    _check_matrix(matrix)
    train = list(train_ids)
    repeated = sorted({patient for patient in train if train.count(patient) > 1})
    if repeated:
        raise GeneSelectionError(f"training ids listed twice: {repeated}")
    absent = [patient for patient in train if patient not in matrix.index]
    if absent:
        raise GeneSelectionError(f"training ids not in the expression matrix: {absent[:20]}")
    from radiogenomics_assets.omics.selection import top_variance_genes  # imports scikit-learn

    return top_variance_genes(matrix.loc[train], n)
