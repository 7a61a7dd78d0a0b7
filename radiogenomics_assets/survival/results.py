"""The paper's Table 1 regenerated: test C-index per model and fold, mean ± sd, bootstrap CI.

One table holds both halves: ``paper_table`` says whether a row belongs to Table 1(a) (the
CoxNet models) or 1(b) (the neural nets), from the registry; the demo's oracle row belongs to
neither (``None``) and is shown under both (:func:`results_markdown`).

The 95 % interval is for the mean over folds of the test C-index. Each bootstrap replicate
resamples, within every fold, the fold's test patients with replacement, separately among
events and non-events (so every replicate keeps the fold's event count and stays computable),
recomputes each fold's Harrell's C with scikit-survival and averages the folds; the interval is
the 2.5th and 97.5th percentile of those means. The model stays fixed: the interval reflects
test-set sampling, not refitting. A replicate with no comparable pair in some fold is left out
and counted (``n_boot``) rather than scored.

On the synthetic demo cohort an ``oracle`` row scores the generator's true log-hazard through
the same functions (:func:`oracle_predictions`), an upper reference for every model.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

import numpy as np
import pandas as pd

from radiogenomics_assets.survival.metrics import NoComparablePairsError, harrell_c_index
from radiogenomics_assets.survival.registry import (
    MODEL_REGISTRY,
    PAPER_TABLES,
    RegistryError,
    get_spec,
)
from radiogenomics_assets.survival.splits import FoldAssignmentError, fold_number
from radiogenomics_assets.survival.targets import make_target, validate_outcomes

ORACLE_MODEL = "oracle"
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


def _fold_arrays(
    predictions: pd.DataFrame, outcomes: pd.DataFrame, model: str, folds: list[str], split: str
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    arrays = []
    for fold in folds:
        rows = predictions[
            (predictions["model"] == model)
            & (predictions["fold"] == fold)
            & (predictions["split"] == split)
        ]
        if rows.empty:
            raise ResultsError(f"no {split} predictions for model {model!r} in {fold}")
        ids = rows["patient_id"].tolist()
        absent = [patient for patient in ids if patient not in outcomes.index]
        if absent:
            raise ResultsError(f"{len(absent)} predicted patients have no outcome: {absent[:10]}")
        picked = outcomes.loc[ids]
        arrays.append(
            (
                picked["event"].to_numpy().astype(bool),
                picked["days"].to_numpy(dtype=float),
                rows["risk"].to_numpy(dtype=float),
            )
        )
    return arrays


def bootstrap_mean_c_index(
    folds: list[tuple[np.ndarray, np.ndarray, np.ndarray]], *, n_boot: int, seed: int | list[int]
) -> tuple[np.ndarray, int]:
    """Bootstrap replicates of the mean over folds of Harrell's C (see the module docstring).

    Args:
        folds: per fold, ``(event, time, risk)`` of its test patients.
        n_boot: number of replicates.
        seed: seeds the resampling.

    Returns:
        The computable replicate means and the number of replicates left out.

    Raises:
        ResultsError: a fold has no event.
    """
    for index, (event, _, _) in enumerate(folds):
        if not event.any():
            raise ResultsError(f"fold {index + 1} of the bootstrap has no event among its rows")
    rng = np.random.default_rng(seed)
    means: list[float] = []
    skipped = 0
    for _ in range(n_boot):
        values = []
        for event, time, risk in folds:
            cases, others = np.flatnonzero(event), np.flatnonzero(~event)
            picked = rng.choice(cases, size=len(cases))
            if len(others):
                picked = np.concatenate([picked, rng.choice(others, size=len(others))])
            target = make_target(event[picked], time[picked])
            try:
                values.append(harrell_c_index(target, risk[picked]))
            except NoComparablePairsError:
                break
        if len(values) == len(folds):
            means.append(float(np.mean(values)))
        else:
            skipped += 1
    return np.asarray(means), skipped


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
        seed: seeds the bootstrap (each model draws from ``(seed, crc32(model))``).

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
    indexed_outcomes = None
    if predictions is not None and outcomes is not None:
        indexed_outcomes = validate_outcomes(outcomes)

    records = []
    for model in _model_order(list(wide.index)):
        values = wide.loc[model].to_numpy(dtype=float)
        record: dict[str, object] = {
            "model": model,
            "label": model_label(model, labels),
            "paper_table": paper_table_of(model),
        }
        record.update(dict(zip(folds, values, strict=True)))
        record["mean"] = float(values.mean())
        record["sd"] = float(values.std(ddof=1)) if len(values) > 1 else float("nan")
        low = high = float("nan")
        used = 0
        if indexed_outcomes is not None and predictions is not None:
            arrays = _fold_arrays(predictions, indexed_outcomes, model, folds, split)
            means, _ = bootstrap_mean_c_index(
                arrays, n_boot=n_boot, seed=[seed, zlib.crc32(model.encode())]
            )
            used = len(means)
            if used:
                low, high = (float(v) for v in np.percentile(means, [2.5, 97.5]))
        record.update({"ci_low": low, "ci_high": high, "n_boot": used})
        records.append(record)
    return pd.DataFrame(records)


def results_markdown(
    table: pd.DataFrame, *, paper_table: str | None = None, bold_best: bool = True
) -> str:
    """The table in the paper's layout: ``| Method | Fold 1 | … | Mean ± sd | 95 % CI |``.

    With ``paper_table`` (``1a`` or ``1b``), only that half's rows and the oracle row. The best
    C-index of each fold is bold, as in the paper (the oracle row is not a contender).
    """
    if paper_table is not None and "paper_table" in table.columns:
        table = table[(table["paper_table"] == paper_table) | (table["model"] == ORACLE_MODEL)]
    folds = sorted((c for c in table.columns if str(c).startswith("fold_")), key=fold_number)
    contenders = table[table["model"] != ORACLE_MODEL]
    best = {fold: contenders[fold].max() for fold in folds} if len(contenders) else {}
    header = ["Method", *(f"Fold {fold_number(f)}" for f in folds), "Mean ± sd", "95% CI"]
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
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def table1_halves(table: pd.DataFrame) -> dict[str, str]:
    """``table_1a`` and ``table_1b``: :func:`results_markdown` of each half of Table 1."""
    return {
        f"table_{half}": results_markdown(table, paper_table=half)
        for half in sorted(set(PAPER_TABLES.values()))
    }
