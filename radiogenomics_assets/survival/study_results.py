"""Table 1 of a study: per protocol, the paper's layout on repeat 1 plus every repeat's summary.

Each protocol (:mod:`.study_protocol`) gets its own rows (column ``protocol``). The per-fold
columns, mean ± sd and bootstrap CI are those of repeat 1, the paper's five folds
(:func:`~.results.results_table`); ``mean_all``, ``sd_all`` and ``n_folds_all`` summarise the
test C-index over every repeat × fold the model was evaluated on, which is what repeated
cross-validation adds: a mean less tied to one draw of the folds. A model enters a protocol's
table when it has every fold of repeat 1; the sd over repeats × folds mixes the folds' sampling
with the repeats' and is not a standard error (folds share training patients).

The bootstrap CI is conditional on the fitted models: it resamples test patients with the
models held fixed, so it reflects the test set's sampling and not the variability of refitting.

``null_model_folds`` names the folds of repeat 1 where a model's alpha selection kept no
coefficient (the stored predictions' ``null_model``): its C of 0.500 there is a constant risk,
not a ranking, and the markdown says so under the table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from radiogenomics_assets.survival.results import (
    models_in_every_fold,
    results_markdown,
    results_table,
)
from radiogenomics_assets.survival.splits import cv_fold_parts, fold_number
from radiogenomics_assets.survival.study_protocol import PROTOCOL_NAMES

#: What every table and description says about the interval.
CI_CONDITION = (
    "bootstrap 95% CI of the repeat-1 mean, resampling each fold's test patients (stratified "
    "by event) with the fitted models held fixed: it reflects test-set sampling, not refitting"
)


def repeat_of(fold: str) -> int:
    """The repeat of a fold partition key (``fold_3`` → 1, ``r2_fold_3`` → 2)."""
    return cv_fold_parts(fold)[0]


def with_repeat(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a ``repeat`` column derived from its ``fold`` column."""
    return frame.assign(repeat=frame["fold"].map(repeat_of).astype(int))


def null_model_folds(predictions: pd.DataFrame) -> pd.Series:
    """Per model, its folds whose ``null_model`` flag is set (``fold_3, fold_5``).

    Rows without the flag (the oracle, partitions stored before it existed) count as not null.
    """
    if "null_model" not in predictions.columns or predictions.empty:
        return pd.Series(dtype=object)
    flagged = predictions[predictions["null_model"].astype("boolean").fillna(False).to_numpy()]
    return flagged.groupby("model")["fold"].agg(
        lambda folds: ", ".join(sorted(set(folds), key=fold_number))
    )


def _protocols(frame: pd.DataFrame) -> list[str]:
    present = set(frame["protocol"])
    return [p for p in PROTOCOL_NAMES if p in present] + sorted(present - set(PROTOCOL_NAMES))


def study_results_table(
    fold_metrics: pd.DataFrame,
    predictions: pd.DataFrame,
    outcomes: pd.DataFrame,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Table 1 per protocol (see the module docstring).

    Args:
        fold_metrics: rows ``protocol, fold, model, split, c_index`` of any repeats.
        predictions: ``protocol, fold, model, patient_id, split, risk``.
        outcomes: ``patient_id, event, days``.
        n_boot, seed: the repeat-1 bootstrap (:func:`~.results.results_table`).

    Returns:
        The table (``protocol`` first) and, per protocol, the models left out for lacking a
        fold of repeat 1. ``null_model_folds`` is empty for a model that ranked in every fold.
    """
    metrics = with_repeat(fold_metrics)
    test = metrics[metrics["split"] == "test"]
    tables, left_out = [], {}
    for protocol in _protocols(metrics):
        rows = metrics[(metrics["protocol"] == protocol) & (metrics["repeat"] == 1)]
        complete, incomplete = models_in_every_fold(rows)
        left_out[protocol] = incomplete
        if not complete:
            continue
        shown = predictions[
            (predictions["protocol"] == protocol)
            & predictions["fold"].isin(set(rows["fold"]))
            & predictions["model"].isin(complete)
        ]
        table = results_table(
            rows[rows["model"].isin(complete)], shown, outcomes, n_boot=n_boot, seed=seed
        )
        every = test[(test["protocol"] == protocol) & test["model"].isin(complete)]
        # A fixed summation order: the stored rows come in the order their partitions were
        # written, which differs between runs (workers), and the mean's last digit with it.
        every = every.sort_values(["model", "fold"], kind="stable")
        summary = every.groupby("model")["c_index"].agg(
            mean_all="mean", sd_all=lambda c: c.std(ddof=1) if len(c) > 1 else np.nan
        )
        summary["n_folds_all"] = every.groupby("model")["c_index"].size()
        summary["n_repeats"] = every.groupby("model")["repeat"].nunique()
        summary["null_model_folds"] = null_model_folds(shown).reindex(summary.index, fill_value="")
        tables.append(table.join(summary, on="model").assign(protocol=protocol))
    if not tables:
        return pd.DataFrame(), left_out
    table = pd.concat(tables, ignore_index=True)
    return table[["protocol", *table.columns.drop("protocol")]], left_out


def null_model_footnotes(rows: pd.DataFrame) -> list[str]:
    """One line per model of ``rows`` with null-model folds, saying which and what they mean."""
    if "null_model_folds" not in rows.columns:
        return []
    lines = []
    for label, folds in zip(rows["label"], rows["null_model_folds"], strict=True):
        if isinstance(folds, str) and folds:
            lines.append(
                f"{label}: {folds} chose the null model (constant risk, C = 0.500): alpha "
                "selection kept no coefficient (the model's notes say why)"
            )
    return lines


def study_markdown(table: pd.DataFrame) -> dict[str, str]:
    """``table_1a_<protocol>`` and ``table_1b_<protocol>``: each half of Table 1 per protocol,
    in the paper's layout with the all-repeats mean ± sd added, and under it a line per model
    whose alpha selection chose the null model in some fold."""
    texts = {}
    for protocol in _protocols(table):
        rows = table[table["protocol"] == protocol]
        for half in sorted(set(rows["paper_table"].dropna())):
            text = results_markdown(rows, paper_table=half)
            notes = null_model_footnotes(rows[rows["paper_table"] == half])
            texts[f"table_{half}_{protocol}"] = text + "".join(f"\n{n}\n" for n in notes)
    return texts
