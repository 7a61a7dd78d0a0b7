from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radiogenomics_assets.omics.selection import TopVarianceSelector, top_variance_genes


def _expression(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    scales = np.array([5.0, 0.1, 3.0, 1.0, 0.5])
    data = rng.normal(size=(40, 5)) * scales
    return pd.DataFrame(data, columns=["G1", "G2", "G3", "G4", "G5"])


def test_ranks_by_sample_variance() -> None:
    frame = _expression()
    expected = frame.var(ddof=1).sort_values(ascending=False).index[:3].tolist()
    assert top_variance_genes(frame, 3) == expected


def test_ties_break_by_name_and_nan_genes_rank_last() -> None:
    frame = pd.DataFrame({"B": [0.0, 2.0], "A": [0.0, 2.0], "C": [np.nan, np.nan]})
    assert top_variance_genes(frame, 3) == ["A", "B", "C"]


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="n_genes must be positive"):
        top_variance_genes(_expression(), 0)
    with pytest.raises(ValueError, match="at least two patients"):
        top_variance_genes(_expression().head(1), 2)


def test_selector_fits_on_training_rows_only() -> None:
    frame = _expression()
    train, test = frame.iloc[:30], frame.iloc[30:].copy()
    selector = TopVarianceSelector(n_genes=2).fit(train)
    test["G2"] = test["G2"] * 1e6  # poison a low-variance gene in held-out rows
    assert selector.genes_ == top_variance_genes(train, 2)
    assert list(selector.transform(test).columns) == selector.genes_
    assert "G2" not in selector.genes_
