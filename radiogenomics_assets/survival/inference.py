"""Does fusing modalities beat the best single modality? Paired gains, intervals and a test.

For each fusion model (a registry spec whose ``fusion`` is not ``single``) the comparator is
:func:`best_single_of`: the single-modality model of the same estimator family, on one of the
fusion's modalities, with the highest mean test C-index over every repeat and fold. Choosing it
on the same test folds favours the single model (its mean is the maximum of several noisy
means), so the gain measured against it is conservative: it understates the fusion's advantage.

:func:`fusion_gains` works on one protocol at a time (the caller loops over protocols). In every
``(repeat, fold)`` it compares the two models on the test patients **both** predicted: a model
that dropped a patient (no modality) drops that patient from the comparison, and the numbers of
patients only one model predicted are reported (``n_test_fusion_only``,
``n_test_single_only``). On those patients:

* ``gain`` = Harrell's C of the fusion − Harrell's C of the single model (scikit-survival's
  ``concordance_index_censored``).
* ``gain_ci_low`` / ``gain_ci_high``: the 2.5th and 97.5th percentiles of the gain over
  bootstrap replicates that resample the same test patients for both models (within events and
  within non-events, :func:`~.results.draw_resamples`), both models scored on each replicate
  (:func:`~.results.replicate_c_indices`). A replicate with no comparable pair is dropped and
  the scored ones counted (``n_boot_scored``).
* Per fusion model, the interval of the **mean** gain over all ``J`` = repeats × folds: one
  generator (``seed``) draws every fold in ``(repeat, fold)`` order, each replicate's gains are
  averaged over the folds, and the percentiles are taken over the scored replicates.

Both intervals are **conditional on the fitted models**: the models stay fixed and only the
test patients are resampled, so they reflect test-set sampling, not the variability of fitting
on another training set. That variability is what the corrected resampled t-test addresses:
:func:`corrected_resampled_t_test` over the ``J`` per-fold gains, with the Nadeau & Bengio
(2003) variance correction as Bouckaert & Frank (2004) use it for repeated cross-validation. The
folds of a cross-validation share most training patients, so their gains are correlated and the
plain paired t-test is anti-conservative; the correction inflates the variance by
``n_test / n_train``.

References:
    C. Nadeau and Y. Bengio, "Inference for the generalization error", Machine Learning 52,
    239-281, 2003. R. R. Bouckaert and E. Frank, "Evaluating the replicability of significance
    tests for comparing learning algorithms", PAKDD 2004, 3-12.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from radiogenomics_assets.survival.metrics import harrell_c_index
from radiogenomics_assets.survival.registry import (
    MODEL_REGISTRY,
    ModelSpec,
    RegistryError,
    get_spec,
)
from radiogenomics_assets.survival.results import (
    draw_resamples,
    fold_arrays,
    replicate_c_indices,
)
from radiogenomics_assets.survival.splits import FoldAssignmentError, Split, fold_number
from radiogenomics_assets.survival.targets import make_target, validate_outcomes

PREDICTION_KEYS: tuple[str, ...] = ("repeat", "fold", "model", "patient_id", "split", "risk")
METRIC_KEYS: tuple[str, ...] = ("repeat", "fold", "model", "split", "c_index")
PER_FOLD_COLUMNS: tuple[str, ...] = (
    "fusion_model",
    "best_single_model",
    "repeat",
    "fold",
    "fusion_c_index",
    "single_c_index",
    "gain",
    "gain_ci_low",
    "gain_ci_high",
    "n_boot_scored",
    "n_train",
    "n_test",
    "n_test_fusion_only",
    "n_test_single_only",
)
SUMMARY_COLUMNS: tuple[str, ...] = (
    "fusion_model",
    "best_single_model",
    "n_folds",
    "mean_gain",
    "sd_gain",
    "t_statistic",
    "p_value",
    "n_train",
    "n_test",
    "ci_low",
    "ci_high",
    "n_boot_scored",
)


class InferenceError(ValueError):
    """Inputs of the fusion-gain inference are missing, inconsistent or too few."""


def corrected_resampled_t_test(
    differences: Sequence[float] | np.ndarray, n_train: float, n_test: float
) -> tuple[float, float]:
    """Nadeau & Bengio's corrected resampled t-test of a mean difference over resamples.

    With ``J`` differences ``d`` (one per repeat × fold), ``t = mean(d) / sqrt((1/J + n_test /
    n_train) * var(d, ddof=1))`` and the two-sided p-value of Student's t with ``J - 1`` degrees
    of freedom. As ``n_test / n_train`` goes to 0 this is the ordinary paired (one-sample) t-test.

    Args:
        differences: per-resample differences between two models (here C-index gains).
        n_train: training-set size of a resample (a mean over resamples is fine).
        n_test: test-set size of a resample.

    Returns:
        ``(t, p)``. ``(nan, nan)`` with fewer than two differences, or when all are zero. When
        all differences are equal and not zero the variance is zero: ``t`` is ``±inf`` and
        ``p`` is 0.0 (every resample agrees exactly; no test is needed to see the sign).

    Raises:
        InferenceError: ``differences`` is not one-dimensional or holds non-finite values, or a
            size is not a positive finite number.
    """
    from scipy.stats import t as student_t

    values = np.asarray(differences, dtype=float)
    if values.ndim != 1:
        raise InferenceError(f"differences must be one-dimensional, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise InferenceError(
            f"differences hold {int((~np.isfinite(values)).sum())} non-finite values"
        )
    for name, size in (("n_train", n_train), ("n_test", n_test)):
        if not (np.isfinite(size) and size > 0):
            raise InferenceError(f"{name} must be a positive finite number, got {size!r}")
    n = len(values)
    if n < 2:
        return float("nan"), float("nan")
    mean = float(values.mean())
    if np.ptp(values) == 0:
        if mean == 0:
            return float("nan"), float("nan")
        return float(np.copysign(np.inf, mean)), 0.0
    variance = float(values.var(ddof=1))
    t = mean / np.sqrt((1.0 / n + n_test / n_train) * variance)
    p = 2.0 * float(student_t.sf(abs(t), df=n - 1))
    return float(t), p


def _check_columns(frame: pd.DataFrame, wanted: Sequence[str], name: str) -> None:
    missing = [column for column in wanted if column not in frame.columns]
    if missing:
        raise InferenceError(
            f"{name} lack columns {missing} (a frame of one protocol needs {list(wanted)}; "
            f"add repeat=0 to a single repeat); got {list(frame.columns)}"
        )


def _fold_key(repeat: object, fold: object) -> tuple[int, int]:
    try:
        return int(repeat), fold_number(fold)  # type: ignore[arg-type, call-overload]
    except (FoldAssignmentError, TypeError, ValueError) as error:
        raise InferenceError(
            f"repeat must be an int and fold fold_<n>, got {repeat!r}, {fold!r}"
        ) from error


def _test_rows(metrics: pd.DataFrame) -> pd.DataFrame:
    """The test C-indices, checked: at most one per (model, repeat, fold), all finite."""
    _check_columns(metrics, [c for c in METRIC_KEYS if c != "split"], "test metrics")
    rows = metrics[metrics["split"] == "test"] if "split" in metrics.columns else metrics
    repeated = rows.duplicated(["model", "repeat", "fold"])
    if repeated.any():
        raise InferenceError(
            "test metrics repeat (model, repeat, fold): "
            f"{rows.loc[repeated, ['model', 'repeat', 'fold']].values.tolist()[:10]}"
        )
    bad = ~np.isfinite(rows["c_index"].to_numpy(dtype=float))
    if bad.any():
        raise InferenceError(
            "test metrics hold non-finite C-indices: "
            f"{rows.loc[bad, ['model', 'repeat', 'fold']].values.tolist()[:10]}"
        )
    return rows


def _resolve(spec: ModelSpec | str) -> ModelSpec:
    if isinstance(spec, ModelSpec):
        return spec
    try:
        return get_spec(spec)
    except RegistryError as error:
        raise InferenceError(str(error)) from error


def best_single_of(fusion_spec: ModelSpec | str, test_metrics: pd.DataFrame) -> str:
    """The single-modality model a fusion model is compared with.

    Among the registered ``single`` specs of the fusion's estimator family whose modality is one
    of the fusion's, the one with the highest mean test C-index over the ``(repeat, fold)``
    pairs the fusion model has. A candidate without a test C in each of those pairs is not
    compared (its mean would be over other folds); ties go to the first in registry order.
    Choosing the best over the whole cross-validation favours the single model, so the gain
    against it is conservative (module docstring).

    Args:
        fusion_spec: the fusion model's spec, or its registered name.
        test_metrics: ``repeat, fold, model, c_index`` rows (with ``split``, only ``test``
            rows are used) of one protocol.

    Returns:
        The name of the best single-modality model.

    Raises:
        InferenceError: the spec is a single-modality one or unknown, the fusion model has no
            test C-index, no candidate has one in every fold the fusion has, a (model, repeat,
            fold) repeats or a C-index is not finite.
    """
    spec = _resolve(fusion_spec)
    if spec.fusion == "single":
        raise InferenceError(f"{spec.name} is a single-modality model, not a fusion")
    rows = _test_rows(test_metrics)
    by_model = {
        model: part.set_index(["repeat", "fold"])["c_index"]
        for model, part in rows.groupby("model")
    }
    if spec.name not in by_model:
        raise InferenceError(f"no test C-index of the fusion model {spec.name}")
    folds = by_model[spec.name].index
    candidates = [
        candidate.name
        for candidate in MODEL_REGISTRY
        if candidate.estimator == spec.estimator
        and candidate.fusion == "single"
        and candidate.modalities[0] in spec.modalities
    ]
    best, best_mean = None, -np.inf
    for name in candidates:
        values = by_model.get(name)
        if values is None or not folds.isin(values.index).all():
            continue
        mean = float(values.loc[folds].mean())
        if mean > best_mean:
            best, best_mean = name, mean
    if best is None:
        raise InferenceError(
            f"no single-modality {spec.estimator} model of {spec.name}'s modalities has a test "
            f"C-index in each of its {len(folds)} (repeat, fold) pairs; candidates: {candidates}"
        )
    return best


def _paired_fold(
    predictions: pd.DataFrame,
    outcomes: pd.DataFrame,
    fusion: str,
    single: str,
    repeat: object,
    fold: str,
    fit_splits: Sequence[Split],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, int]]:
    """``(event, time, risks (2, n), counts)`` of the test patients both models predicted."""
    where = f"{fusion} vs {single}, repeat {repeat}, {fold}"
    rows = predictions[
        (predictions["repeat"] == repeat)
        & (predictions["fold"] == fold)
        & predictions["model"].isin([fusion, single])
    ]
    for model in (fusion, single):
        if not ((rows["model"] == model) & (rows["split"] == "test")).any():
            raise InferenceError(f"no test predictions of {model} in {where}")
    if not np.isfinite(rows["risk"].to_numpy(dtype=float)).all():
        raise InferenceError(f"predictions of {where} hold non-finite risks")
    event, time, risks = fold_arrays(rows, outcomes, [fusion, single], fold, "test")
    predicted = np.isfinite(risks)
    both = predicted.all(axis=0)
    fitted = rows[rows["split"].isin(fit_splits)].groupby("model")["patient_id"].agg(set)
    counts = {
        "n_train": len(fitted.get(fusion, set()) & fitted.get(single, set())),
        "n_test": int(both.sum()),
        "n_test_fusion_only": int((predicted[0] & ~predicted[1]).sum()),
        "n_test_single_only": int((predicted[1] & ~predicted[0]).sum()),
    }
    if counts["n_train"] == 0:
        raise InferenceError(f"no {list(fit_splits)} patient predicted by both models in {where}")
    if not event[both].any():
        raise InferenceError(
            f"no event among the {counts['n_test']} shared test patients of {where}"
        )
    return event[both], time[both], risks[:, both], counts


def _percentiles(replicates: np.ndarray) -> tuple[float, float, int]:
    scored = replicates[np.isfinite(replicates)]
    if len(scored) == 0:
        return float("nan"), float("nan"), 0
    low, high = np.percentile(scored, [2.5, 97.5])
    return float(low), float(high), len(scored)


def _fold_gains(
    fusion: str,
    single: str,
    folds: list[tuple[object, str]],
    arrays: list[tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, int]]],
    n_boot: int,
    seed: int,
) -> tuple[list[dict[str, object]], np.ndarray]:
    """Per-fold rows of one fusion model, and its gain replicates, shape ``(folds, n_boot)``.

    One generator draws every fold in order (:func:`~.results.draw_resamples`); both models
    are scored on each replicate, so the replicate gains are paired.
    """
    draws = draw_resamples([event for event, _, _, _ in arrays], n_boot=n_boot, seed=seed)
    rows, replicate_gains = [], []
    for (repeat, fold), (event, time, risks, counts), drawn in zip(
        folds, arrays, draws, strict=True
    ):
        where = f"test patients of {fusion} and {single} in repeat {repeat}, {fold}"
        target = make_target(event, time)
        fusion_c = harrell_c_index(target, risks[0], where=where)
        single_c = harrell_c_index(target, risks[1], where=where)
        replicates = replicate_c_indices(event, time, risks, drawn)
        gains = replicates[0] - replicates[1]
        replicate_gains.append(gains)
        low, high, scored = _percentiles(gains)
        rows.append(
            {
                "fusion_model": fusion,
                "best_single_model": single,
                "repeat": repeat,
                "fold": fold,
                "fusion_c_index": fusion_c,
                "single_c_index": single_c,
                "gain": fusion_c - single_c,
                "gain_ci_low": low,
                "gain_ci_high": high,
                "n_boot_scored": scored,
                **counts,
            }
        )
    return rows, np.vstack(replicate_gains)


def _summary_row(gains: pd.DataFrame, replicates: np.ndarray) -> dict[str, object]:
    """The summary of one fusion model from its per-fold rows and gain replicates."""
    n_train = float(gains["n_train"].mean())
    n_test = float(gains["n_test"].mean())
    t, p = corrected_resampled_t_test(gains["gain"].to_numpy(), n_train, n_test)
    # A replicate not scored in some fold has no mean gain: NaN, dropped by _percentiles.
    low, high, scored = _percentiles(replicates.mean(axis=0))
    return {
        "fusion_model": gains["fusion_model"].iloc[0],
        "best_single_model": gains["best_single_model"].iloc[0],
        "n_folds": len(gains),
        "mean_gain": float(gains["gain"].mean()),
        "sd_gain": float(gains["gain"].std(ddof=1)) if len(gains) > 1 else float("nan"),
        "t_statistic": t,
        "p_value": p,
        "n_train": n_train,
        "n_test": n_test,
        "ci_low": low,
        "ci_high": high,
        "n_boot_scored": scored,
    }


def fusion_gains(
    fold_metrics: pd.DataFrame,
    predictions: pd.DataFrame,
    outcomes: pd.DataFrame,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    fit_splits: Sequence[Split] = ("train",),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Paired gains of every fusion model over its best single model (module docstring).

    Args:
        fold_metrics: ``repeat, fold, model, split, c_index`` of one protocol; its test rows
            name the fusion models and choose each one's best single model.
        predictions: ``repeat, fold, model, patient_id, split, risk`` of the same protocol.
        outcomes: ``patient_id, event, days``.
        n_boot: bootstrap replicates.
        seed: seeds the resampling; each fusion model's folds are drawn by one generator.
        fit_splits: the splits counted as training patients for ``n_train`` (the patients of
            those splits both models predicted, per fold).

    Returns:
        ``(per_fold, summary)``: one row per fusion model × repeat × fold with
        :data:`PER_FOLD_COLUMNS`, and one row per fusion model with :data:`SUMMARY_COLUMNS`
        (``n_train`` and ``n_test`` the means over folds used by the t-test), fusion models in
        registry order, folds by repeat then fold number.

    Raises:
        InferenceError: a column is missing, a fusion model has no best single model or lacks
            test predictions in one of its folds, a fold's shared test patients hold no event,
            or ``n_boot`` is not positive.
        NoComparablePairsError: a fold's shared test patients hold no comparable pair.
    """
    if n_boot < 1:
        raise InferenceError(f"n_boot must be positive, got {n_boot}")
    _check_columns(fold_metrics, METRIC_KEYS, "fold metrics")
    _check_columns(predictions, PREDICTION_KEYS, "predictions")
    rows = _test_rows(fold_metrics)
    indexed = validate_outcomes(outcomes)
    present = set(rows["model"])
    fusions = [spec for spec in MODEL_REGISTRY if spec.fusion != "single" and spec.name in present]

    per_fold: list[dict[str, object]] = []
    summary: list[dict[str, object]] = []
    for spec in fusions:
        single = best_single_of(spec, rows)
        pairs = rows.loc[rows["model"] == spec.name, ["repeat", "fold"]].drop_duplicates()
        folds = sorted(pairs.itertuples(index=False, name=None), key=lambda k: _fold_key(*k))
        arrays = [
            _paired_fold(predictions, indexed, spec.name, single, repeat, fold, fit_splits)
            for repeat, fold in folds
        ]
        gains, replicates = _fold_gains(spec.name, single, folds, arrays, n_boot, seed)
        per_fold.extend(gains)
        summary.append(_summary_row(pd.DataFrame(gains), replicates))
    return (
        pd.DataFrame(per_fold, columns=list(PER_FOLD_COLUMNS)),
        pd.DataFrame(summary, columns=list(SUMMARY_COLUMNS)),
    )
