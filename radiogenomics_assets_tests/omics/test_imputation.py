from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radiogenomics_assets.omics.imputation import GeneImputer, ImputationError


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"G1": [1.0, np.nan, 3.0, 10.0], "G2": [np.nan, 2.0, 2.0, 4.0]},
        index=["A", "B", "C", "D"],
    )


def test_fill_values_come_from_fit_rows_only() -> None:
    frame = _frame()
    train, test = frame.loc[["A", "C", "D"]], frame.loc[["B"]]
    imputer = GeneImputer().fit(train)
    assert imputer.fill_values_.to_dict() == {"G1": float(np.median([1.0, 3.0, 10.0])), "G2": 3.0}
    filled = imputer.transform(test)
    assert filled.loc["B", "G1"] == 3.0  # the training median, not the test row's own data
    assert filled.loc["B", "G2"] == 2.0  # observed values are untouched
    mean = GeneImputer("gene_mean").fit(train)
    assert mean.fill_values_["G1"] == pytest.approx((1.0 + 3.0 + 10.0) / 3)
    assert list(imputer.get_feature_names_out()) == ["G1", "G2"]


def test_errors_are_named() -> None:
    frame = _frame()
    with pytest.raises(
        ImputationError, match=r"1 gene\(s\) have no observed value in the 1 fit rows.*'G2'"
    ):
        GeneImputer().fit(frame.loc[["A"]])
    with pytest.raises(ImputationError, match="needs a DataFrame"):
        GeneImputer().fit(frame.to_numpy())  # type: ignore[arg-type]
    with pytest.raises(ImputationError, match="statistic must be"):
        GeneImputer("mode").fit(frame)  # type: ignore[arg-type]
    with pytest.raises(ImputationError, match=r"missing at transform: \['G2'\]"):
        GeneImputer().fit(frame).transform(frame[["G1"]])
