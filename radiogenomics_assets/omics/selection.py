"""Top-variance gene selection, fitted on a fold's training rows only.

The paper keeps "the top 500 most variant genes". Ranking genes on the whole cohort leaks the
test patients' expression into the feature choice, so the models use
:class:`TopVarianceSelector` inside their pipeline, fitted on training rows; the whole-cohort
ranking exists only as the comparison asset ``features/gene_matrix_top500``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted


def top_variance_genes(expression: pd.DataFrame, n_genes: int = 500) -> list[str]:
    """The ``n_genes`` columns of ``expression`` (patients × genes) with the largest variance.

    Variance is the sample variance (ddof=1) ignoring NaN; ties are broken by gene name so the
    choice is deterministic. If fewer genes exist, all are returned.

    Raises:
        ValueError: ``n_genes`` is not positive, or fewer than two rows were given.
    """
    if n_genes < 1:
        raise ValueError(f"n_genes must be positive, got {n_genes}")
    if len(expression) < 2:
        raise ValueError(f"variance needs at least two patients, got {len(expression)}")
    variances = expression.var(axis=0, ddof=1, skipna=True)
    ranked = (
        pd.DataFrame({"gene": variances.index.astype(str), "variance": variances.to_numpy()})
        .assign(variance=lambda f: f["variance"].fillna(-np.inf))
        .sort_values(["variance", "gene"], ascending=[False, True], kind="mergesort")
    )
    return ranked["gene"].head(n_genes).tolist()


class TopVarianceSelector(TransformerMixin, BaseEstimator):
    """Keep the ``n_genes`` most variant columns seen in ``fit`` (a scikit-learn transformer).

    Works on DataFrames whose columns are gene symbols and returns a DataFrame with the
    selected columns in rank order.
    """

    def __init__(self, n_genes: int = 500) -> None:
        self.n_genes = n_genes

    def fit(self, X: pd.DataFrame, y: object = None) -> TopVarianceSelector:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(
                f"TopVarianceSelector needs a DataFrame of genes, got {type(X).__name__}"
            )
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.genes_ = top_variance_genes(X, self.n_genes)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "genes_")
        missing = [gene for gene in self.genes_ if gene not in X.columns]
        if missing:
            raise KeyError(f"genes selected in fit are missing at transform: {missing[:10]}")
        return X.loc[:, self.genes_]

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self, "genes_")
        return np.asarray(self.genes_, dtype=object)
