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

**One horizon and one grid per study.** The fold's training maximum differs from fold to fold,
so Uno's C of two folds truncates at different times and the mean TD-AUC of two folds averages
over different grid times: a mean over folds then mixes different quantities. Given ``tau``
(``tau_rule`` ``"study"``), :func:`evaluate_split` censors at that fixed horizon instead
(``tau_rule`` ``"fold_training_max"`` without it, the per-fold rule above).
:func:`study_horizon` picks the horizon, :func:`study_time_grid` the grid shared by every fold:

* ``tau`` = the smallest, over every ``(repeat, fold)``, of the last training time and of the
  last time of each evaluated split. At or below every fold's last training time, the censoring
  distribution estimated on the fold's training rows is positive at every evaluation time
  before tau, which scikit-survival's IPCW needs. At or below every evaluated split's last time,
  every fold's evaluation rows, censored at tau, are followed up to tau exactly, so a grid time
  below tau has a control (a row still at risk) in every fold. Every model is fitted on at
  least the ``train`` split (``fit_splits`` adds ``validation`` for some), so its censoring
  estimate reaches at least as far.
* The grid = the paper's times ``t`` with ``first event <= t < tau``, where ``first event`` is
  the latest, over every fold and evaluated split, of the split's first event time: every grid
  time has a case and a control in every fold, so :func:`supported_times` keeps the whole grid
  in every fold and the mean TD-AUC of each fold averages the same times.
* With an event before tau in every evaluated split of every fold (checked), Uno's C has a
  comparable pair in every fold: that event and the row followed to tau.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

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
    "tau_rule",
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


class StudyHorizonError(ValueError):
    """No horizon or grid shared by every fold exists (a split without follow-up or events)."""


TauRule = Literal["study", "fold_training_max"]


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
    train_target: np.ndarray,
    eval_target: np.ndarray,
    time_grid: Sequence[float] | np.ndarray,
    *,
    horizon: float | None = None,
) -> tuple[np.ndarray, str | None]:
    """The grid times at which the time-dependent metrics are defined for this evaluation split.

    Args:
        train_target, eval_target: targets of the fitting and the evaluated rows.
        time_grid: candidate times.
        horizon: the evaluation horizon; default the training horizon (last training time).

    Returns:
        The supported times (sorted, unique) and, when none is, the reason.
    """
    if horizon is None:
        _, train_time = target_arrays(train_target)
        horizon = float(train_time.max())
    censored, _ = censor_at_horizon(eval_target, horizon)
    event, time = target_arrays(censored)
    grid = np.unique(np.asarray(time_grid, dtype=float))
    if not event.any():
        return grid[:0], f"no event in the evaluation rows before the horizon {horizon:g}"
    low, high = float(time[event].min()), float(time.max())
    kept = grid[(grid >= low) & (grid < high) & (grid < horizon)]
    if len(kept) == 0:
        return kept, (
            f"no grid time in [{low:g}, {min(high, horizon):g}) (first event, end of follow-up "
            f"and horizon {horizon:g}); grid spans {grid.min():g}..{grid.max():g}"
        )
    return kept, None


_FOLLOW_UP_COLUMNS = ("patient_id", "fold", "split")


def _fold_keys(splits: pd.DataFrame) -> list[str]:
    """``repeat, fold`` when the splits carry repeats, else ``fold`` (one repeat)."""
    return ["repeat", "fold"] if "repeat" in splits.columns else ["fold"]


def split_follow_up(outcomes: pd.DataFrame, splits: pd.DataFrame) -> pd.DataFrame:
    """Follow-up of every split of every fold: what :func:`study_horizon` decides from.

    Args:
        outcomes: ``patient_id, event, days`` (or already indexed by ``patient_id``).
        splits: ``patient_id, fold, split`` rows, with ``repeat`` when there are several.

    Returns:
        One row per ``[repeat,] fold, split``: ``n_patients, n_events, last_time`` (the longest
        follow-up) and ``first_event_time`` (NaN without an event).

    Raises:
        StudyHorizonError: a column is missing or a patient of ``splits`` has no outcome.
    """
    missing = [column for column in _FOLLOW_UP_COLUMNS if column not in splits.columns]
    if missing:
        raise StudyHorizonError(f"splits lack columns {missing}; got {list(splits.columns)}")
    if "patient_id" in outcomes.columns:
        outcomes = validate_outcomes(outcomes)
    absent = sorted(set(splits["patient_id"]) - set(outcomes.index))
    if absent:
        raise StudyHorizonError(
            f"{len(absent)} patients of the splits have no outcome: {absent[:10]}"
        )
    keys = [*_fold_keys(splits), "split"]
    rows = splits[keys].assign(
        event=outcomes["event"].loc[splits["patient_id"]].to_numpy().astype(bool),
        days=outcomes["days"].loc[splits["patient_id"]].to_numpy(dtype=float),
    )
    rows["event_days"] = rows["days"].where(rows["event"])
    return (
        rows.groupby(keys, sort=True)
        .agg(
            n_patients=("days", "size"),
            n_events=("event", "sum"),
            last_time=("days", "max"),
            first_event_time=("event_days", "min"),
        )
        .reset_index()
    )


def _horizon_bound(follow_up: pd.DataFrame, evaluated: Sequence[Split]) -> tuple[float, str]:
    """The largest horizon every fold supports, and which fold and split set it."""
    keys = [column for column in ("repeat", "fold") if column in follow_up.columns]
    wanted = ("train", *evaluated)
    for fold, part in follow_up.groupby(keys, sort=True):
        lacking = [split for split in wanted if split not in set(part["split"])]
        if lacking:
            named = dict(zip(keys, fold, strict=True))
            raise StudyHorizonError(f"{named} has no {lacking} rows, needed by the horizon")
    used = follow_up[follow_up["split"].isin(wanted)]
    limit = used.loc[used["last_time"].idxmin()]
    where = ", ".join(f"{key}={limit[key]}" for key in [*keys, "split"])
    return float(limit["last_time"]), where


def _latest_first_event(
    follow_up: pd.DataFrame, evaluated: Sequence[Split], horizon: float
) -> float:
    """The latest first event time of the evaluated splits (each needs one before ``horizon``)."""
    used = follow_up[follow_up["split"].isin(evaluated)]
    late = used[~(used["first_event_time"] < horizon)]
    if len(late):
        keys = [column for column in ("repeat", "fold", "split") if column in late.columns]
        raise StudyHorizonError(
            f"{len(late)} evaluated splits have no event before the horizon {horizon:g}, so "
            f"neither Uno's C nor the TD-AUC is defined there: "
            f"{late[keys].to_dict('records')[:10]}"
        )
    return float(used["first_event_time"].max())


def study_horizon(
    outcomes: pd.DataFrame,
    splits: pd.DataFrame,
    *,
    evaluated: Sequence[Split] = ("validation", "test"),
) -> float:
    """One evaluation horizon ``tau`` for every fold (the rule: module docstring).

    tau is the smallest last follow-up time of every fold's ``train`` split and of its
    ``evaluated`` splits, over every ``(repeat, fold)``. Pass as ``evaluated`` the splits the
    metrics will be computed on: the guarantee covers those only.

    Args:
        outcomes: ``patient_id, event, days`` (or indexed by ``patient_id``).
        splits: ``patient_id, fold, split`` rows of every fold (``repeat`` too, with repeats).
        evaluated: the splits that will be evaluated.

    Raises:
        StudyHorizonError: a fold lacks a ``train`` or an evaluated split, or an evaluated split
            has no event before tau (the message names them).
    """
    follow_up = split_follow_up(outcomes, splits)
    horizon, _ = _horizon_bound(follow_up, evaluated)
    _latest_first_event(follow_up, evaluated, horizon)
    return horizon


def study_time_grid(
    outcomes: pd.DataFrame,
    splits: pd.DataFrame,
    horizon: float,
    *,
    grid: Sequence[float] | np.ndarray = PAPER_TIME_GRID,
    evaluated: Sequence[Split] = ("validation", "test"),
) -> np.ndarray:
    """The times of ``grid`` at which the TD-AUC is defined in every fold (module docstring).

    Those ``t`` with ``first event <= t < horizon``, ``first event`` the latest first event
    time of the evaluated splits over every fold. Passed as ``time_grid`` with ``tau=horizon``
    to :func:`evaluate_split`, every fold keeps all of them.

    Raises:
        StudyHorizonError: ``horizon`` is beyond some fold's follow-up (the message names the
            fold and split), an evaluated split has no event before it, or no grid time remains.
    """
    follow_up = split_follow_up(outcomes, splits)
    bound, where = _horizon_bound(follow_up, evaluated)
    if not horizon <= bound:
        raise StudyHorizonError(
            f"horizon {horizon:g} is beyond the follow-up of {where} (last time {bound:g})"
        )
    low = _latest_first_event(follow_up, evaluated, horizon)
    times = np.unique(np.asarray(grid, dtype=float))
    kept = times[(times >= low) & (times < horizon)]
    if len(kept) == 0:
        raise StudyHorizonError(
            f"no grid time in [{low:g}, {horizon:g}) (latest first event of a fold, horizon); "
            f"grid spans {times.min():g}..{times.max():g}"
        )
    return kept


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
    tau: float | None = None,
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
        tau: the study horizon (:func:`study_horizon`): Uno's C, the TD-AUC and the IBS use it
            instead of the training horizon, and ``tau_rule`` is ``"study"``.
        where: names the split in error messages.

    Returns:
        ``c_index, c_index_uno, tau, tau_rule, auc_times, auc_values, mean_auc, ibs,
        n_patients, n_events, n_grid_points, n_censored_at_horizon, auc_note, ibs_note``.

    Raises:
        NoComparablePairsError: no comparable pair (Harrell's or Uno's).
        MetricInputError: misaligned or non-finite inputs, or ``tau`` is not positive or beyond
            the training horizon (the censoring weights are undefined there).
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
    training_horizon = float(train_time.max())
    tau_rule: TauRule = "fold_training_max" if tau is None else "study"
    if tau is None:
        tau = training_horizon
    elif not 0 < tau <= training_horizon:
        raise MetricInputError(
            f"tau={tau!r} for {where or 'the evaluation rows'} must be in (0, "
            f"{training_horizon:g}], the training horizon: the censoring weights need it"
        )
    tau = float(tau)
    censored, n_censored = censor_at_horizon(eval_target, tau)
    try:
        c_index_uno = float(concordance_index_ipcw(train_target, censored, risk, tau=tau)[0])
    except NoComparablePairException as error:
        raise NoComparablePairsError(
            f"no comparable pair before tau={tau:g} in {where or 'the evaluation rows'} for Uno's C"
        ) from error

    times, auc_note = supported_times(train_target, eval_target, time_grid, horizon=tau)
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
        "tau_rule": tau_rule,
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
    tau: float | None = None,
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
        tau: the study horizon, or ``None`` for the fold's training horizon
            (:func:`evaluate_split`).

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
            tau=tau,
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
