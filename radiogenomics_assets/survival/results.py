"""The paper's Table 1 regenerated: test C-index per model and fold, mean ± sd, bootstrap CI.

One table holds both halves: ``paper_table`` says whether a row belongs to Table 1(a) (the
CoxNet models) or 1(b) (the neural nets), from the registry; the demo's oracle row belongs to
neither (``None``) and is shown under both (:func:`results_markdown`).

The 95 % interval is for the mean over folds of the test C-index. Each bootstrap replicate
resamples, within every fold, the fold's test patients with replacement, separately among
events and non-events (so every replicate keeps the fold's event count and stays computable),
recomputes each fold's Harrell's C and averages the folds; the interval is the 2.5th and 97.5th
percentile of those means. The models stay fixed: the interval reflects test-set sampling, not
refitting. Every model is scored on the same replicates (one generator, one seed), so two
models' replicates are paired. A replicate's C is scikit-survival's Harrell's C of the drawn
rows, computed for all replicates and models at once from pairwise weights
(:func:`replicate_c_indices`; a test checks it against ``concordance_index_censored`` draw by
draw). A replicate with no comparable pair in some fold is left out and counted (``n_boot``)
rather than scored.

On the synthetic demo cohort an ``oracle`` row scores the generator's true log-hazard through
the same functions (:func:`oracle_predictions`), an upper reference for every model.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from radiogenomics_assets.survival.registry import (
    MODEL_REGISTRY,
    PAPER_TABLES,
    RegistryError,
    get_spec,
)
from radiogenomics_assets.survival.splits import FoldAssignmentError, fold_number
from radiogenomics_assets.survival.targets import validate_outcomes

ORACLE_MODEL = "oracle"
#: Risks closer than this are tied, as in scikit-survival's ``concordance_index_censored``.
_RISK_TIE = 1e-8
ORACLE_LABEL = "Oracle (true risk)"


class ResultsError(ValueError):
    """Fold metrics or predictions are incomplete or inconsistent for the results table."""


def model_label(model: str, labels: Mapping[str, str] | None = None) -> str:
    """The paper-style label of ``model``: ``labels``, then the registry, then the oracle."""
    if labels and model in labels:
        return labels[model]
    if model == ORACLE_MODEL:
        return ORACLE_LABEL
    try:
        return get_spec(model).label
    except RegistryError:
        return model


def paper_table_of(model: str) -> str | None:
    """``1a`` or ``1b`` for a registered model; ``None`` for the oracle and unknown models."""
    try:
        return get_spec(model).paper_table
    except RegistryError:
        return None


def _model_order(models: list[str]) -> list[str]:
    registered = [spec.name for spec in MODEL_REGISTRY if spec.name in models]
    others = sorted(m for m in models if m not in registered and m != ORACLE_MODEL)
    return registered + others + ([ORACLE_MODEL] if ORACLE_MODEL in models else [])


def models_in_every_fold(
    fold_metrics: pd.DataFrame, *, split: str = "test"
) -> tuple[list[str], list[str]]:
    """Which models have a ``split`` row in every fold the metrics hold, and which lack some.

    A table of means over folds compares models only over the same folds, so a model evaluated
    on fewer folds than the others is left out of it (and named) rather than averaged apart.

    Returns:
        ``(complete, incomplete)``, each in registry order, the oracle and unknown models last.
    """
    rows = fold_metrics[fold_metrics["split"] == split]
    folds = set(rows["fold"])
    present = rows.groupby("model")["fold"].agg(set)
    complete = [m for m in present.index if present[m] == folds]
    incomplete = [m for m in present.index if present[m] != folds]
    return _model_order(complete), _model_order(incomplete)


def oracle_predictions(true_risk: pd.Series, splits: pd.DataFrame) -> pd.DataFrame:
    """Predictions of the generator's true risk, shaped like a model's.

    Args:
        true_risk: log-hazard (higher = earlier recurrence) indexed by ``patient_id``.
        splits: ``patient_id, fold, split`` rows of one or more folds.

    Returns:
        Columns ``model`` (``oracle``), ``fold, patient_id, split, risk``.

    Raises:
        ResultsError: a patient of ``splits`` has no true risk, or the risk is not finite.
    """
    missing = sorted(set(splits["patient_id"]) - set(true_risk.index))
    if missing:
        raise ResultsError(f"{len(missing)} patients have no true risk: {missing[:10]}")
    risk = true_risk.loc[splits["patient_id"]].to_numpy(dtype=float)
    if not np.isfinite(risk).all():
        raise ResultsError("the true risk holds non-finite values")
    return pd.DataFrame(
        {
            "model": ORACLE_MODEL,
            "fold": splits["fold"].to_numpy(),
            "patient_id": splits["patient_id"].to_numpy(),
            "split": splits["split"].to_numpy(),
            "risk": risk,
        }
    )


def fold_arrays(
    predictions: pd.DataFrame, outcomes: pd.DataFrame, models: list[str], fold: str, split: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(event, time, risks)`` of the fold's ``split`` patients, any model's, in id order.

    ``risks`` has one row per model, NaN where that model made no prediction (a patient it
    dropped for lack of a modality). ``predictions`` must hold one repeat of the folds (a
    patient appears once per model, fold and split); ``outcomes`` is indexed by ``patient_id``
    (:func:`~.targets.validate_outcomes`).

    Raises:
        ResultsError: a model has no ``split`` prediction in the fold, or a predicted patient
            has no outcome.
    """
    rows = predictions[
        predictions["model"].isin(models)
        & (predictions["fold"] == fold)
        & (predictions["split"] == split)
    ]
    wide = rows.pivot(index="patient_id", columns="model", values="risk").sort_index()
    lacking = [model for model in models if model not in wide.columns]
    if lacking:
        raise ResultsError(f"no {split} predictions for models {lacking} in {fold}")
    absent = [patient for patient in wide.index if patient not in outcomes.index]
    if absent:
        raise ResultsError(f"{len(absent)} predicted patients have no outcome: {absent[:10]}")
    picked = outcomes.loc[wide.index]
    return (
        picked["event"].to_numpy().astype(bool),
        picked["days"].to_numpy(dtype=float),
        wide[models].to_numpy(dtype=float).T,
    )


def draw_resamples(events: list[np.ndarray], *, n_boot: int, seed: int) -> list[np.ndarray]:
    """Per fold, ``(n_boot, n)`` row indices: each replicate draws the fold's events and its
    non-events with replacement, separately, so it keeps the fold's event count.

    One generator seeded by ``seed`` draws every fold in order; every model is scored on these
    same draws, so two models' replicates are paired.

    Raises:
        ResultsError: a fold has no event.
    """
    rng = np.random.default_rng(seed)
    draws = []
    for index, event in enumerate(events):
        if not event.any():
            raise ResultsError(f"fold {index + 1} of the bootstrap has no event among its rows")
        strata = [np.flatnonzero(event), np.flatnonzero(~event)]
        draws.append(
            np.hstack(
                [rows[rng.integers(0, len(rows), size=(n_boot, len(rows)))] for rows in strata]
            )
        )
    return draws


def _pair_weights(
    event: np.ndarray, time: np.ndarray, risk: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Harrell's pairs as scikit-survival counts them, for ``risk`` of shape ``(models, n)``.

    Row ``i`` is an event; it is comparable with ``j`` followed longer, or censored at the same
    time. ``concordant`` scores 1 when ``i`` has the higher risk, 0.5 on a risk tie (within
    scikit-survival's 1e-8). ``earlier`` keeps only ``time[j] > time[i]``: a replicate without
    such a pair is not scored (:func:`~.metrics.harrell_c_index` refuses it).
    """
    later = time[:, None] < time[None, :]
    tied_censored = (time[:, None] == time[None, :]) & ~event[None, :]
    comparable = (event[:, None] & (later | tied_censored)).astype(float)
    difference = risk[:, :, None] - risk[:, None, :]
    tie = np.abs(difference) <= _RISK_TIE
    concordant = comparable * np.where(tie, 0.5, (difference > 0).astype(float))
    return comparable, concordant, (event[:, None] & later).astype(float)


def replicate_c_indices(
    event: np.ndarray, time: np.ndarray, risks: np.ndarray, draws: np.ndarray
) -> np.ndarray:
    """Harrell's C of every model on every replicate of one fold, shape ``(models, n_boot)``.

    ``risks`` is ``(models, n)``, NaN where a model has no prediction (that patient then counts
    for no pair of that model); ``draws`` the ``(n_boot, k)`` row indices of
    :func:`draw_resamples`. A replicate is scored as scikit-survival would score the drawn rows
    (a drawn row repeated m times weighs m in every pair), all replicates at once; one with no
    comparable pair is NaN.
    """
    n_boot, n = len(draws), len(time)
    counts = np.bincount(
        (draws + n * np.arange(n_boot)[:, None]).ravel(), minlength=n_boot * n
    ).reshape(n_boot, n)
    present = np.isfinite(risks)
    weights = counts[None, :, :] * present[:, None, :]
    comparable, concordant, earlier = _pair_weights(event, time, np.where(present, risks, 0.0))
    denominator = np.einsum("mbi,ij,mbj->mb", weights, comparable, weights)
    numerator = np.einsum("mbi,mij,mbj->mb", weights, concordant, weights)
    scored = np.einsum("mbi,ij,mbj->mb", weights, earlier, weights) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(scored, numerator / denominator, np.nan)


def bootstrap_mean_c_index(
    folds: list[tuple[np.ndarray, np.ndarray, np.ndarray]], *, n_boot: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap replicates of the mean over folds of Harrell's C (see the module docstring).

    Args:
        folds: per fold, ``(event, time, risks)`` of its test patients, ``risks`` of shape
            ``(models, n)`` (NaN: no prediction) or ``(n,)`` for one model.
        n_boot: number of replicates.
        seed: seeds the resampling, shared by every model (:func:`draw_resamples`).

    Returns:
        ``(means, scored)``: per model and replicate the mean over folds, NaN for a replicate
        with no comparable pair in some fold, shape ``(models, n_boot)``; and per model the
        number of replicates scored.

    Raises:
        ResultsError: a fold has no event.
    """
    draws = draw_resamples([event for event, _, _ in folds], n_boot=n_boot, seed=seed)
    per_fold = [
        replicate_c_indices(event, time, np.atleast_2d(risks), drawn)
        for (event, time, risks), drawn in zip(folds, draws, strict=True)
    ]
    means = np.mean(per_fold, axis=0)
    return means, np.isfinite(means).sum(axis=1)


def results_table(
    fold_metrics: pd.DataFrame,
    predictions: pd.DataFrame | None = None,
    outcomes: pd.DataFrame | None = None,
    *,
    split: str = "test",
    labels: Mapping[str, str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per model: the test C-index of every fold, mean ± sd and a bootstrap 95 % CI.

    Args:
        fold_metrics: rows ``model, fold, split, c_index`` (as from ``evaluate_predictions``).
        predictions: ``model, fold, patient_id, split, risk``; without it (or ``outcomes``)
            the CI columns are NaN.
        outcomes: ``patient_id, event, days``.
        split: which split's C-index to tabulate.
        labels: optional label per model (default: registry labels).
        n_boot: bootstrap replicates.
        seed: seeds the bootstrap; every model is scored on the same replicates.

    Returns:
        Columns ``model, label, paper_table, fold_1..fold_k, mean, sd, ci_low, ci_high,
        n_boot``, in registry order with the oracle last.

    Raises:
        ResultsError: a model lacks a fold another model has, or a (model, fold) repeats.
    """
    rows = fold_metrics[fold_metrics["split"] == split]
    if rows.empty:
        raise ResultsError(f"fold_metrics hold no {split!r} rows")
    repeated = rows.duplicated(["model", "fold"])
    if repeated.any():
        raise ResultsError(
            "fold_metrics repeat (model, fold): "
            f"{rows.loc[repeated, ['model', 'fold']].values.tolist()[:10]}"
        )
    try:
        folds = sorted(rows["fold"].unique(), key=fold_number)
    except FoldAssignmentError as error:
        raise ResultsError(f"fold names must be fold_<n>: {error}") from error
    wide = rows.pivot(index="model", columns="fold", values="c_index").reindex(columns=folds)
    incomplete = wide.index[wide.isna().any(axis=1)]
    if len(incomplete):
        raise ResultsError(f"models without a C-index in every fold {folds}: {list(incomplete)}")

    order = _model_order(list(wide.index))
    intervals = dict.fromkeys(order, (float("nan"), float("nan"), 0))
    if predictions is not None and outcomes is not None:
        indexed = validate_outcomes(outcomes)
        arrays = [fold_arrays(predictions, indexed, order, fold, split) for fold in folds]
        means, scored = bootstrap_mean_c_index(arrays, n_boot=n_boot, seed=seed)
        for model, replicates, used in zip(order, means, scored, strict=True):
            if used:
                low, high = np.nanpercentile(replicates, [2.5, 97.5])
                intervals[model] = (float(low), float(high), int(used))

    records = []
    for model in order:
        values = wide.loc[model].to_numpy(dtype=float)
        record: dict[str, object] = {
            "model": model,
            "label": model_label(model, labels),
            "paper_table": paper_table_of(model),
        }
        record.update(dict(zip(folds, values, strict=True)))
        record["mean"] = float(values.mean())
        record["sd"] = float(values.std(ddof=1)) if len(values) > 1 else float("nan")
        low, high, used = intervals[model]
        record.update({"ci_low": low, "ci_high": high, "n_boot": used})
        records.append(record)
    return pd.DataFrame(records)


def results_markdown(
    table: pd.DataFrame, *, paper_table: str | None = None, bold_best: bool = True
) -> str:
    """The table in the paper's layout: ``| Method | Fold 1 | … | Mean ± sd | 95 % CI |``.

    With ``paper_table`` (``1a`` or ``1b``), only that half's rows and the oracle row. The best
    C-index of each fold is bold, as in the paper (the oracle row is not a contender). A table
    with ``mean_all`` (:mod:`.study_results`) gains the mean ± sd over every repeat × fold.
    """
    if paper_table is not None and "paper_table" in table.columns:
        table = table[(table["paper_table"] == paper_table) | (table["model"] == ORACLE_MODEL)]
    folds = sorted((c for c in table.columns if str(c).startswith("fold_")), key=fold_number)
    contenders = table[table["model"] != ORACLE_MODEL]
    best = {fold: contenders[fold].max() for fold in folds} if len(contenders) else {}
    header = ["Method", *(f"Fold {fold_number(f)}" for f in folds), "Mean ± sd", "95% CI"]
    repeats = "mean_all" in table.columns
    if repeats:
        header.append("Mean ± sd, all repeats (folds)")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table.itertuples(index=False):
        values = row._asdict()
        cells = [str(values["label"])]
        for fold in folds:
            text = f"{values[fold]:.2f}"
            is_best = bold_best and values["model"] != ORACLE_MODEL and values[fold] == best[fold]
            cells.append(f"**{text}**" if is_best else text)
        cells.append(f"{values['mean']:.2f} ± {values['sd']:.2f}")
        has_ci = np.isfinite(values["ci_low"]) and np.isfinite(values["ci_high"])
        cells.append(f"[{values['ci_low']:.2f}, {values['ci_high']:.2f}]" if has_ci else "n/a")
        if repeats and np.isfinite(values["mean_all"]):
            cells.append(
                f"{values['mean_all']:.2f} ± {values['sd_all']:.2f} ({int(values['n_folds_all'])})"
            )
        elif repeats:
            cells.append("n/a")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def table1_halves(table: pd.DataFrame) -> dict[str, str]:
    """``table_1a`` and ``table_1b``: :func:`results_markdown` of each half of Table 1."""
    return {
        f"table_{half}": results_markdown(table, paper_table=half)
        for half in sorted(set(PAPER_TABLES.values()))
    }
