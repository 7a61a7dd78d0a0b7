"""What every fitted model offers, whatever its estimator family, the figures all report, and
its evaluation through the metrics every family shares."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from radiogenomics_assets.survival.metrics import PAPER_TIME_GRID, evaluate_predictions
from radiogenomics_assets.survival.splits import SPLITS, Split


class FittedModel(Protocol):
    """A registered model fitted on one fold (:class:`.fusion.FittedCoxnet`,
    :class:`.neural.FittedNet`): the same predictions table, per-split C-indices, notes, flat
    summary and ``save(path)``."""

    model: str
    label: str
    spec_version: str
    fold: str | None
    seed: int
    fit_splits: tuple[Split, ...]
    predictions: pd.DataFrame
    dropped: Mapping[Split, tuple[str, ...]]
    c_index: Mapping[Split, float]
    notes: tuple[str, ...]

    @property
    def alpha_selection(self) -> str | None: ...

    @property
    def survival_functions(self) -> pd.DataFrame | None: ...

    @property
    def test_c_index(self) -> float: ...

    @property
    def n_dropped(self) -> dict[Split, int]: ...

    def summary(self) -> dict[str, Any]: ...

    def save(self, path: Path) -> None: ...


def common_summary(fitted: FittedModel) -> dict[str, Any]:
    """The figures every family reports: identity, C-index per split, patients per split."""
    summary: dict[str, Any] = {
        "model": fitted.model,
        "spec_version": fitted.spec_version,
        "fold": fitted.fold,
        "seed": fitted.seed,
        "fit_splits": ",".join(fitted.fit_splits),
        "c_index_test": fitted.c_index["test"],
        "c_index_validation": fitted.c_index["validation"],
        "n_notes": len(fitted.notes),
    }
    for split in SPLITS:
        summary[f"n_{split}"] = int((fitted.predictions["split"] == split).sum())
        summary[f"n_dropped_{split}"] = len(fitted.dropped[split])
    return summary


def evaluate_fitted(
    fitted: FittedModel,
    outcomes: pd.DataFrame,
    *,
    splits: Sequence[Split] = ("validation", "test"),
    time_grid: Sequence[float] | np.ndarray = PAPER_TIME_GRID,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`evaluate_predictions` for a :class:`FittedModel`.

    Adds ``alpha_selection`` and ``n_dropped`` (patients of the split left out for lack of a
    modality) to the metric rows.
    """
    metrics, curves = evaluate_predictions(
        fitted.predictions,
        outcomes,
        model=fitted.model,
        fold=fitted.fold or "",
        fit_splits=fitted.fit_splits,
        survival_functions=fitted.survival_functions,
        splits=splits,
        time_grid=time_grid,
    )
    dropped = metrics["split"].map(fitted.n_dropped).astype(int)
    return metrics.assign(alpha_selection=fitted.alpha_selection, n_dropped=dropped), curves
