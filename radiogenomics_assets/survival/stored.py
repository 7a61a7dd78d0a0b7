"""The stored predictions table of a fitted model, its survival curves back from it, and its
evaluation.

A model's rows (``model, fold, patient_id, split, risk, ...``) carry each patient's survival
curve as two list columns (``survival_times``, ``survival``), ``None`` where the model has none,
and ``null_model``: the fold's alpha selection kept no coefficient (constant risk).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from radiogenomics_assets.survival.fitted import FittedModel
from radiogenomics_assets.survival.metrics import PAPER_TIME_GRID, evaluate_predictions
from radiogenomics_assets.survival.splits import Split

PREDICTION_COLUMNS = (
    "model",
    "fold",
    "patient_id",
    "split",
    "risk",
    "spec_version",
    "alpha_selection",
    "fit_splits",
    "null_model",
    "survival_times",
    "survival",
)


def predictions_frame(fitted: FittedModel) -> pd.DataFrame:
    """The stored predictions of a fitted model, with survival curves where it has them."""
    frame = fitted.predictions.assign(
        model=fitted.model,
        fold=fitted.fold,
        spec_version=fitted.spec_version,
        alpha_selection=fitted.alpha_selection,
        fit_splits=",".join(fitted.fit_splits),
        # Per fold, so that Table 1 can name the folds whose alpha selection kept no
        # coefficient; only a CoxNet's summary has it.
        null_model=bool(fitted.summary().get("null_model", False)),
    )
    curves = fitted.survival_functions
    if curves is None:
        frame["survival_times"] = None
        frame["survival"] = None
    else:
        times = [float(t) for t in curves.columns]
        by_patient = {pid: [float(v) for v in row] for pid, row in curves.iterrows()}
        frame["survival_times"] = [
            times if pid in by_patient else None for pid in frame["patient_id"]
        ]
        frame["survival"] = [by_patient.get(pid) for pid in frame["patient_id"]]
    return frame[list(PREDICTION_COLUMNS)]


def survival_functions_of(predictions: pd.DataFrame) -> pd.DataFrame | None:
    """Back from stored rows to patients × time survival probabilities (None if absent)."""
    if "survival" not in predictions.columns:
        return None
    rows = predictions.dropna(subset=["survival"])
    rows = rows[[v is not None and len(v) > 0 for v in rows["survival"]]]
    if rows.empty:
        return None
    times = [float(t) for t in rows["survival_times"].iloc[0]]
    return pd.DataFrame(
        [list(v) for v in rows["survival"]],
        index=pd.Index(rows["patient_id"], name="patient_id"),
        columns=times,
    )


def evaluate_stored(
    predictions: pd.DataFrame,
    outcomes: pd.DataFrame,
    *,
    model: str,
    fold: str,
    splits: Sequence[Split] = ("validation", "test"),
    time_grid: Sequence[float] | np.ndarray = PAPER_TIME_GRID,
    tau: float | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metrics and TD-AUC curves of one model's stored rows of one fold (``fit_splits`` and the
    survival curves are read from the rows).

    ``time_grid`` and ``tau`` go to :func:`~.metrics.evaluate_predictions`: give the study
    horizon and grid (``study_horizon``, ``study_time_grid``) so every fold is scored up to the
    same time on the same grid; without ``tau`` each fold uses its own training horizon.
    """
    fit_splits = tuple(str(predictions["fit_splits"].iloc[0]).split(","))
    return evaluate_predictions(
        predictions,
        outcomes,
        model=model,
        fold=fold,
        fit_splits=fit_splits,
        survival_functions=survival_functions_of(predictions),
        splits=splits,
        time_grid=time_grid,
        tau=tau,
    )
