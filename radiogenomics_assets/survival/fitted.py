"""What every fitted model offers, whatever its estimator family, and the figures all report."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

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
