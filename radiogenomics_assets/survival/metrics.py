"""Evaluation metrics of a risk prediction on one split, all computed by scikit-survival.

* Harrell's C: ``concordance_index_censored``.
* Uno's C: ``concordance_index_ipcw`` with ``tau`` = the training horizon (the longest
  follow-up among the training rows). The censoring distribution is estimated on the training
  rows, and scikit-survival can only weight evaluation times below the training horizon; tau is
  the largest truncation it accepts, so Uno's C covers as much of the follow-up as possible.
* Time-dependent AUC: ``cumulative_dynamic_auc`` on the paper's grid (250..2450 days, step 50),
  clipped to the times the evaluation split supports: at or after its first event (so there is
  a case), strictly before its last follow-up time and strictly before the training horizon
  (so there is a control and a censoring weight). ``mean_auc`` is scikit-survival's
  survival-weighted mean over those times. No supported time gives NaN with a reason.
* Integrated Brier score: ``integrated_brier_score`` on the same clipped grid, when survival
  functions are given and at least two grid times remain.

Evaluation rows followed beyond the training horizon are administratively censored at the
horizon before the IPCW metrics. At every time the metrics use (all before the horizon) such a
patient is a control either way, so the values are those of the untruncated data; without it
scikit-survival refuses to weight them. The number of rows censored so is reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from radiogenomics_assets.survival.splits import SPLITS, Split
from radiogenomics_assets.survival.targets import (
    make_target,
    target_arrays,
    target_for,
    validate_outcomes,
)

# scikit-survival is imported inside the functions that use it: the code location imports this
# module, and loading it must not cost seconds.

PAPER_TIME_GRID: np.ndarray = np.arange(250.0, 2451.0, 50.0)
METRIC_COLUMNS: tuple[str, ...] = (
    "model",
    "fold",
    "split",
    "c_index",
    "c_index_uno",
    "tau",
    "mean_auc",
    "ibs",
    "n_patients",
    "n_events",
    "n_grid_points",
    "n_censored_at_horizon",
    "in_sample",
    "auc_note",
    "ibs_note",
)


class NoComparablePairsError(ValueError):
    """The evaluation rows hold no comparable pair, so no concordance can be computed."""


class MetricInputError(ValueError):
    """Risks, targets or survival functions do not line up, or hold non-finite values."""


def harrell_c_index(target: np.ndarray, risk: np.ndarray, *, where: str = "") -> float:
    """Harrell's C of ``risk`` (higher = earlier recurrence) against ``target``.

    Raises:
        NoComparablePairsError: no pair of rows is comparable.
        MetricInputError: lengths differ or a risk is not finite.
    """
    from sksurv.exceptions import NoComparablePairException
    from sksurv.metrics import concordance_index_censored

    event, time = target_arrays(target)
    risk = _check_risk(risk, len(time), where)
    message = (
        f"no comparable pair in {where or 'the evaluation rows'} "
        f"({len(time)} patients, {int(event.sum())} events)"
    )
    # A pair is comparable when the earlier time is an event. scikit-survival refuses some
    # cases without one with generic ValueErrors and divides 0 by 0 in others (an event only
    # at the latest time, tied with the rest): name them all here.
    if len(time) < 2 or not (event & (time < time.max())).any():
        raise NoComparablePairsError(message)
    try:
        return float(concordance_index_censored(event, time, risk)[0])
    except NoComparablePairException as error:
        raise NoComparablePairsError(message) from error


def _check_risk(risk: np.ndarray, n_rows: int, where: str) -> np.ndarray:
    values = np.asarray(risk, dtype=float)
    if values.shape != (n_rows,):
        raise MetricInputError(
            f"risk of {where or 'the evaluation rows'} has shape {values.shape}, "
            f"expected ({n_rows},)"
        )
    if not np.isfinite(values).all():
        raise MetricInputError(
            f"risk of {where or 'the evaluation rows'} holds "
            f"{int((~np.isfinite(values)).sum())} non-finite values"
        )
    return values


def censor_at_horizon(target: np.ndarray, horizon: float) -> tuple[np.ndarray, int]:
    """Censor rows followed to or beyond ``horizon`` at ``horizon``; return the count changed."""
    event, time = target_arrays(target)
    beyond = time >= horizon
    censored = make_target(np.where(beyond, False, event), np.where(beyond, horizon, time))
    return censored, int(beyond.sum())


def supported_times(
    train_target: np.ndarray, eval_target: np.ndarray, time_grid: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, str | None]:
    """The grid times at which the time-dependent metrics are defined for this evaluation split.

    Returns:
        The supported times (sorted, unique) and, when none is, the reason.
    """
    _, train_time = target_arrays(train_target)
    horizon = float(train_time.max())
    censored, _ = censor_at_horizon(eval_target, horizon)
    event, time = target_arrays(censored)
    grid = np.unique(np.asarray(time_grid, dtype=float))
    if not event.any():
        return grid[:0], "no event in the evaluation rows before the training horizon"
    low, high = float(time[event].min()), float(time.max())
    kept = grid[(grid >= low) & (grid < high) & (grid < horizon)]
    if len(kept) == 0:
        return kept, (
            f"no grid time in [{low:g}, {min(high, horizon):g}) (first event, end of follow-up "
            f"and training horizon {horizon:g}); grid spans {grid.min():g}..{grid.max():g}"
        )
    return kept, None


def _survival_at(survival: pd.DataFrame | np.ndarray, knots: np.ndarray | None, times: np.ndarray):
    values = np.asarray(survival, dtype=float)
    if knots is None:
        knots = np.asarray(survival.columns, dtype=float)  # type: ignore[union-attr]
    if values.ndim != 2 or values.shape[1] != len(knots):
        raise MetricInputError(
            f"survival functions have shape {values.shape} but {len(knots)} time points"
        )
    if not np.isfinite(values).all():
        raise MetricInputError("survival functions hold non-finite values")
    # A survival step function is 1 before its first time point and constant between points.
    position = np.searchsorted(knots, times, side="right") - 1
    padded = np.hstack([np.ones((values.shape[0], 1)), values])
    return padded[:, position + 1]


def evaluate_split(
    train_target: np.ndarray,
    eval_target: np.ndarray,
    risk: np.ndarray,
    survival_functions: pd.DataFrame | np.ndarray | None = None,
    *,
    time_grid: Sequence[float] | np.ndarray = PAPER_TIME_GRID,
    survival_times: np.ndarray | None = None,
    where: str = "",
) -> dict[str, Any]:
    """All metrics of ``risk`` on one evaluation split (see the module docstring).

    Args:
        train_target: targets of the rows the model was fitted on (censoring distribution,
            horizon).
        eval_target: targets of the evaluated rows.
        risk: predicted risk of the evaluated rows (higher = earlier recurrence).
        survival_functions: optional survival probabilities of the evaluated rows, one column
            per time point (a DataFrame whose columns are the times, or an array with
            ``survival_times``).
        time_grid: candidate times (days) for the time-dependent AUC and the IBS.
        survival_times: time points of an array ``survival_functions``.
        where: names the split in error messages.

    Returns:
        ``c_index, c_index_uno, tau, auc_times, auc_values, mean_auc, ibs, n_patients,
        n_events, n_grid_points, n_censored_at_horizon, auc_note, ibs_note``.

    Raises:
        NoComparablePairsError: no comparable pair (Harrell's or Uno's).
        MetricInputError: misaligned or non-finite inputs.
    """
    from sksurv.exceptions import NoComparablePairException
    from sksurv.metrics import (
        concordance_index_ipcw,
        cumulative_dynamic_auc,
        integrated_brier_score,
    )

    event, time = target_arrays(eval_target)
    risk = _check_risk(risk, len(time), where)
    c_index = harrell_c_index(eval_target, risk, where=where)
    _, train_time = target_arrays(train_target)
    tau = float(train_time.max())
    censored, n_censored = censor_at_horizon(eval_target, tau)
    try:
        c_index_uno = float(concordance_index_ipcw(train_target, censored, risk, tau=tau)[0])
    except NoComparablePairException as error:
        raise NoComparablePairsError(
            f"no comparable pair before tau={tau:g} in {where or 'the evaluation rows'} for Uno's C"
        ) from error

    times, auc_note = supported_times(train_target, eval_target, time_grid)
    auc_values = np.full(len(times), np.nan)
    mean_auc = float("nan")
    if len(times):
        auc_values, mean_auc = cumulative_dynamic_auc(train_target, censored, risk, times)
        auc_values = np.asarray(auc_values, dtype=float)
        mean_auc = float(mean_auc)

    ibs = float("nan")
    if survival_functions is None:
        ibs_note: str | None = "the model gives no survival function"
    elif len(times) < 2:
        ibs_note = f"the integrated Brier score needs two supported grid times, got {len(times)}"
    else:
        estimate = _survival_at(survival_functions, survival_times, times)
        if estimate.shape[0] != len(time):
            raise MetricInputError(
                f"survival functions of {where or 'the evaluation rows'} have "
                f"{estimate.shape[0]} rows, expected {len(time)}"
            )
        ibs = float(integrated_brier_score(train_target, censored, estimate, times))
        ibs_note = None

    return {
        "c_index": c_index,
        "c_index_uno": c_index_uno,
        "tau": tau,
        "auc_times": times,
        "auc_values": auc_values,
        "mean_auc": mean_auc,
        "ibs": ibs,
        "n_patients": len(time),
        "n_events": int(event.sum()),
        "n_grid_points": len(times),
        "n_censored_at_horizon": n_censored,
        "auc_note": auc_note,
        "ibs_note": ibs_note,
    }


def evaluate_predictions(
    predictions: pd.DataFrame,
    outcomes: pd.DataFrame,
    *,
    model: str,
    fold: str,
    fit_splits: Sequence[Split] = ("train",),
    survival_functions: pd.DataFrame | None = None,
    splits: Sequence[Split] = ("validation", "test"),
    time_grid: Sequence[float] | np.ndarray = PAPER_TIME_GRID,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metrics of one model's predictions on one fold, one row per evaluated split.

    Args:
        predictions: ``patient_id, split, risk`` of every used patient (fit rows included).
        outcomes: ``patient_id, event, days`` (or already indexed by ``patient_id``).
        model, fold: written into the rows.
        fit_splits: splits the model was fitted on (their targets estimate censoring).
        survival_functions: optional, indexed by ``patient_id`` with float time columns.
        splits: splits to evaluate.
        time_grid: candidate times of the time-dependent metrics.

    Returns:
        ``(metrics, curves)``: metrics with :data:`METRIC_COLUMNS`; curves with
        ``model, fold, split, time, auc``.

    Raises:
        NoComparablePairsError, MetricInputError, SurvivalTargetError: see :func:`evaluate_split`.
    """
    if "patient_id" in outcomes.columns:
        outcomes = validate_outcomes(outcomes)
    fit_ids = pd.Index(predictions.loc[predictions["split"].isin(fit_splits), "patient_id"])
    train_target = target_for(outcomes, fit_ids)
    rows: list[dict[str, Any]] = []
    curves: list[pd.DataFrame] = []
    for split in splits:
        if split not in SPLITS:
            raise MetricInputError(f"unknown split {split!r}; expected one of {SPLITS}")
        part = predictions[predictions["split"] == split]
        ids = pd.Index(part["patient_id"])
        survival = None if survival_functions is None else survival_functions.loc[ids]
        result = evaluate_split(
            train_target,
            target_for(outcomes, ids),
            part["risk"].to_numpy(),
            survival,
            time_grid=time_grid,
            where=f"{split} split of {model} on {fold}",
        )
        rows.append(
            {
                "model": model,
                "fold": fold,
                "split": split,
                **{k: result[k] for k in METRIC_COLUMNS if k in result},
                "in_sample": split in fit_splits,
            }
        )
        curves.append(
            pd.DataFrame(
                {
                    "model": model,
                    "fold": fold,
                    "split": split,
                    "time": result["auc_times"],
                    "auc": result["auc_values"],
                }
            )
        )
    metrics = pd.DataFrame(rows, columns=list(METRIC_COLUMNS))
    return metrics, pd.concat(curves, ignore_index=True)
