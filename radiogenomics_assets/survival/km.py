"""Kaplan–Meier curves of a model's high- and low-risk test patients, as a clinician reads them.

A model's risk becomes a two-group call the way it would in the clinic: the cut-off is fixed
before the test patients are seen. Per fold (and per repeat, when the predictions carry one)
the threshold is the median risk of that fold's *training* patients; a test patient is
``high`` when its risk is strictly above the threshold, else ``low``. The test folds are
disjoint, so concatenating every fold's test patients of one repeat gives each patient once:
the pooled comparison.

Per group the Kaplan–Meier estimate (``sksurv.nonparametric.kaplan_meier_estimator``), the
log-rank test between the groups (``sksurv.compare.compare_survival``), the group sizes and
events, and the numbers at risk (follow-up ``days >= t``) under the x axis, the way survival
plots are printed in journals. Days count from the outcomes' origin, which the caller names in
the x-axis text (:func:`radiogenomics_assets.survival.figures.time_axis_label`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from radiogenomics_assets.survival.figures import figure_png
from radiogenomics_assets.survival.splits import SPLITS
from radiogenomics_assets.survival.targets import target_arrays, target_for, validate_outcomes

# scikit-survival and matplotlib are imported inside the functions that use them: the code
# location imports this module, and loading it must not cost seconds.

if TYPE_CHECKING:
    from matplotlib.figure import Figure

RiskGroup = Literal["high", "low"]
RISK_GROUPS: tuple[RiskGroup, ...] = ("high", "low")
PREDICTION_COLUMNS: tuple[str, ...] = ("fold", "patient_id", "split", "risk")
#: Columns that key one threshold, in this order, when the predictions carry them.
KEY_COLUMNS: tuple[str, ...] = ("repeat", "fold")
GROUP_COLUMNS: tuple[str, ...] = ("fold", "patient_id", "risk", "threshold", "group")
_COLOURS: dict[RiskGroup, str] = {"high": "#c0392b", "low": "#1f77b4"}
_LABELS: dict[RiskGroup, str] = {"high": "High risk", "low": "Low risk"}
_MAX_NAMED = 10


class KMInputError(ValueError):
    """Predictions or outcomes cannot be split into two non-empty risk groups and compared."""


@dataclass(frozen=True, eq=False)
class KMComparison:
    """Kaplan–Meier curves of the risk groups and the log-rank test between them.

    Attributes:
        curves: ``group, time, survival`` rows: each group's estimate at its distinct follow-up
            times (a step function, right-continuous, 1 before the first time).
        censored: ``group, time, survival`` rows: each censored patient's time and the curve's
            value there (where the censoring ticks go).
        chi2: log-rank statistic (1 degree of freedom).
        p_value: log-rank two-sided p-value.
        n: patients per group.
        events: recurrences per group.
        times: the times of the at-risk table, increasing, from 0.
        at_risk: patients still followed (``days >= t``), rows ``high, low``, one column per
            time of ``times``.
        model: the model compared, when the risk groups named one.
        folds: the folds pooled, in the order first seen.
    """

    curves: pd.DataFrame
    censored: pd.DataFrame
    chi2: float
    p_value: float
    n: dict[str, int]
    events: dict[str, int]
    times: tuple[float, ...]
    at_risk: pd.DataFrame
    model: str | None
    folds: tuple[str, ...]

    def describe(self) -> str:
        """``model 'x', folds [...]``: who the comparison is of, for messages and titles."""
        return _describe(self.model, self.folds)


def _describe(model: str | None, folds: Sequence[str]) -> str:
    return (f"model {model!r}, " if model is not None else "") + f"folds {list(folds)}"


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise KMInputError(f"{what} lack columns {missing}; got {list(frame.columns)}")


def _one_model(frame: pd.DataFrame, what: str) -> str | None:
    if "model" not in frame.columns:
        return None
    models = sorted(set(frame["model"].astype(str)))
    if len(models) != 1:
        raise KMInputError(f"{what} must hold one model, got {models}")
    return models[0]


def risk_groups(predictions: pd.DataFrame) -> pd.DataFrame:
    """Each test patient's risk group, against its fold's training-median threshold.

    Args:
        predictions: one model's ``fold, patient_id, split, risk`` rows (``split`` one of
            ``train, validation, test``); ``repeat`` and ``model`` are optional. Validation
            rows are allowed and ignored.

    Returns:
        One row per test patient and key: ``model`` and ``repeat`` when given, then ``fold,
        patient_id, risk, threshold, group`` (``group`` is ``high`` when ``risk > threshold``,
        else ``low``), ordered by key and patient id.

    Raises:
        KMInputError: a column is missing, more than one model is given, a split is unknown, a
            risk of a training or test row is not finite, a fold has no training or no test
            row, or a test patient repeats within a fold.
    """
    _require(predictions, PREDICTION_COLUMNS, "predictions")
    model = _one_model(predictions, "predictions")
    unknown = sorted(set(predictions["split"].astype(str)) - set(SPLITS))
    if unknown:
        raise KMInputError(f"predictions hold unknown splits {unknown}; expected {list(SPLITS)}")
    keys = [column for column in KEY_COLUMNS if column in predictions.columns]
    used = predictions[predictions["split"].isin(["train", "test"])]
    risk = pd.to_numeric(used["risk"], errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(risk).all():
        bad = used.loc[~np.isfinite(risk), [*keys, "patient_id"]]
        raise KMInputError(
            f"{len(bad)} training or test risks are not finite, e.g. "
            f"{bad.head(_MAX_NAMED).to_dict('records')}"
        )
    used = used.assign(risk=risk)

    parts = []
    for key, rows in used.groupby(keys, sort=True):
        where = ", ".join(f"{name} {value}" for name, value in zip(keys, key, strict=True))
        train = rows.loc[rows["split"] == "train", "risk"]
        test = rows[rows["split"] == "test"]
        if train.empty or test.empty:
            empty = "training" if train.empty else "test"
            raise KMInputError(f"{where} has no {empty} prediction")
        repeated = test["patient_id"][test["patient_id"].duplicated()]
        if len(repeated):
            raise KMInputError(
                f"{where} predicts test patients more than once: "
                f"{sorted(set(repeated))[:_MAX_NAMED]}"
            )
        threshold = float(np.median(train.to_numpy()))
        parts.append(
            test.assign(
                threshold=threshold,
                group=np.where(test["risk"] > threshold, "high", "low"),
            )
        )
    front = ["model"] if model is not None else []
    result = pd.concat(parts, ignore_index=True)
    columns = [*front, *[key for key in keys if key != "fold"], *GROUP_COLUMNS]
    return result.sort_values([*keys, "patient_id"], kind="mergesort")[columns].reset_index(
        drop=True
    )


def at_risk_times(horizon: float, *, max_columns: int = 8) -> np.ndarray:
    """Evenly spaced times ``0, step, 2 step, ...`` up to ``horizon``, at most ``max_columns``.

    The step is the smallest of 1, 2, 2.5 or 5 times a power of ten that keeps the count within
    ``max_columns``: tick values a reader takes in at a glance.

    Raises:
        KMInputError: ``horizon`` is not finite and positive, or ``max_columns`` is below 2.
    """
    if not np.isfinite(horizon) or horizon <= 0:
        raise KMInputError(f"horizon must be finite and > 0, got {horizon!r}")
    if max_columns < 2:
        raise KMInputError(f"max_columns must be at least 2, got {max_columns!r}")
    # 10 ** (exponent + 1) exceeds horizon / (max_columns - 1), so some candidate always fits.
    exponent = int(np.floor(np.log10(horizon / (max_columns - 1))))
    candidates = [m * 10.0**p for p in (exponent, exponent + 1) for m in (1.0, 2.0, 2.5, 5.0)]
    step = min(c for c in candidates if np.floor(horizon / c) + 1 <= max_columns)
    return step * np.arange(int(np.floor(horizon / step)) + 1)


def km_comparison(
    groups: pd.DataFrame,
    outcomes: pd.DataFrame,
    *,
    times: Sequence[float] | np.ndarray | None = None,
) -> KMComparison:
    """Kaplan–Meier curves, log-rank test and numbers at risk of the high and low risk groups.

    Args:
        groups: :func:`risk_groups` rows (``patient_id, group`` at least; ``fold`` and
            ``model`` name the comparison in messages), each patient once: pool the folds of
            one repeat, not several repeats.
        outcomes: ``patient_id, event, days`` of at least every patient of ``groups``.
        times: times of the at-risk table, increasing and >= 0; by default
            :func:`at_risk_times` of the longest follow-up.

    Raises:
        KMInputError: a column is missing, a group value is not ``high``/``low``, a patient
            repeats, a risk group is empty (ties at the threshold, or a model ranking every
            test patient alike), there is no recurrence to test, or ``times`` is malformed.
        SurvivalTargetError: an outcome is missing or malformed.
    """
    from sksurv.compare import compare_survival
    from sksurv.nonparametric import kaplan_meier_estimator

    _require(groups, ("patient_id", "group"), "risk groups")
    model = _one_model(groups, "risk groups")
    folds = tuple(pd.unique(groups["fold"].astype(str))) if "fold" in groups.columns else ()
    who = _describe(model, folds)
    unknown = sorted(set(groups["group"].astype(str)) - set(RISK_GROUPS))
    if unknown:
        raise KMInputError(f"risk groups hold unknown groups {unknown} ({who})")
    repeated = groups["patient_id"][groups["patient_id"].duplicated()]
    if len(repeated):
        raise KMInputError(
            f"risk groups list patients more than once ({who}; several repeats pooled?): "
            f"{sorted(set(repeated))[:_MAX_NAMED]}"
        )
    sizes = groups["group"].value_counts()
    for group in RISK_GROUPS:
        if sizes.get(group, 0) == 0:
            other = next(name for name in RISK_GROUPS if name != group)
            raise KMInputError(
                f"the {group}-risk group is empty ({who}): all {len(groups)} test patients are "
                f"{other} risk, so there is nothing to compare (risks tied at the training "
                "median?)"
            )

    target = target_for(validate_outcomes(outcomes), groups["patient_id"])
    event, days = target_arrays(target)
    if not event.any():
        raise KMInputError(
            f"no recurrence among the {len(groups)} test patients ({who}): the log-rank test "
            "is undefined"
        )
    labels = groups["group"].astype(str).to_numpy()
    chi2, p_value = compare_survival(target, labels)

    grid = at_risk_times(float(days.max())) if times is None else np.asarray(times, dtype=float)
    if grid.ndim != 1 or not len(grid) or not np.isfinite(grid).all() or (grid < 0).any():
        raise KMInputError(f"times must be finite, >= 0 and not empty, got {list(grid)}")
    if (np.diff(grid) <= 0).any():
        raise KMInputError(f"times must increase, got {list(grid)}")

    curves, censored, n, events, at_risk = [], [], {}, {}, {}
    for group in RISK_GROUPS:
        mine = labels == group
        time, survival = kaplan_meier_estimator(event[mine], days[mine])
        curves.append(pd.DataFrame({"group": group, "time": time, "survival": survival}))
        lost = np.unique(days[mine & ~event])
        at = survival[np.searchsorted(time, lost)]
        censored.append(pd.DataFrame({"group": group, "time": lost, "survival": at}))
        n[group] = int(mine.sum())
        events[group] = int(event[mine].sum())
        at_risk[group] = [int((days[mine] >= t).sum()) for t in grid]
    return KMComparison(
        curves=pd.concat(curves, ignore_index=True),
        censored=pd.concat(censored, ignore_index=True),
        chi2=float(chi2),
        p_value=float(p_value),
        n=n,
        events=events,
        times=tuple(float(t) for t in grid),
        at_risk=pd.DataFrame.from_dict(at_risk, orient="index", columns=list(grid)),
        model=model,
        folds=folds,
    )


def format_p_value(p_value: float) -> str:
    """``p = 0.034`` with two significant digits, ``p < 0.001`` below that."""
    if p_value < 0.001:
        return "p < 0.001"
    return f"p = {p_value:.2g}"


def build_km_figure(comparison: KMComparison, *, title: str, time_label: str) -> Figure:
    """The two Kaplan–Meier step curves with censoring ticks and the numbers-at-risk table.

    The log-rank p-value heads the legend; each legend entry gives the group's size and events.
    The at-risk table sits under the x axis, one row per group in the curve's colour, one
    column per x tick (the comparison's ``times``).

    Args:
        comparison: from :func:`km_comparison`.
        title: figure title.
        time_label: x-axis text, e.g. ``"Days after CT"``.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 5.6), layout="constrained")
    axes, table = figure.subplots(2, 1, height_ratios=[5.0, 1.2])
    for group in RISK_GROUPS:
        curve = comparison.curves[comparison.curves["group"] == group]
        ticks = comparison.censored[comparison.censored["group"] == group]
        colour = _COLOURS[group]
        axes.step(
            np.concatenate([[0.0], curve["time"].to_numpy()]),
            np.concatenate([[1.0], curve["survival"].to_numpy()]),
            where="post",
            color=colour,
            label=f"{_LABELS[group]} (n={comparison.n[group]}, events={comparison.events[group]})",
        )
        axes.plot(ticks["time"], ticks["survival"], "|", color=colour, markersize=8)
    right = max(comparison.times[-1], float(comparison.curves["time"].max())) * 1.03
    axes.set_xlim(0.0, right)
    axes.set_ylim(0.0, 1.05)
    axes.set_xticks(comparison.times)
    axes.set_xlabel(time_label)
    axes.set_ylabel("Recurrence-free probability")
    axes.legend(title=f"log-rank {format_p_value(comparison.p_value)}", loc="upper right")
    axes.set_title(title)

    table.set_xlim(axes.get_xlim())
    table.set_ylim(-0.5, len(RISK_GROUPS) - 0.5)
    rows = {group: len(RISK_GROUPS) - 1 - index for index, group in enumerate(RISK_GROUPS)}
    for group, row in rows.items():
        for time, count in zip(comparison.times, comparison.at_risk.loc[group], strict=True):
            table.text(time, row, str(count), ha="center", va="center", color=_COLOURS[group])
    table.set_yticks(list(rows.values()), [_LABELS[group] for group in rows])
    table.set_xticks([])
    table.set_title("Number at risk", loc="left", fontsize="medium")
    for spine in table.spines.values():
        spine.set_visible(False)
    # The padding keeps the row labels clear of the counts centred on t = 0.
    table.tick_params(axis="y", length=0, pad=20)
    return figure


def km_figure(comparison: KMComparison, *, title: str, time_label: str) -> bytes:
    """:func:`build_km_figure` rendered as PNG bytes (reproducible: no software stamp)."""
    return figure_png(build_km_figure(comparison, title=title, time_label=time_label), dpi=120)
