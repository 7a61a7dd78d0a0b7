"""``evaluation/fusion_gain``: does fusion beat its best single modality, and how sure is that?

Per protocol and fusion model (:func:`radiogenomics_assets.survival.inference.fusion_gains`):
the best single-modality model of the same family on its modalities, the test C-index gain per
repeat × fold with a paired bootstrap CI (both models scored on the same resampled test
patients), the mean gain with its bootstrap CI, and the Nadeau–Bengio corrected resampled
t-test over every repeat × fold. The per-fold rows go to ``evaluation.fusion_gain_folds``. A
fusion model that cannot be compared (its single models not materialized on its folds) is named
in metadata, not guessed.
"""

# No "from __future__ import annotations": Dagster reads these annotations at definition time.

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, AssetOut, MetadataValue, multi_asset

from radiogenomics_assets.cohort.outcomes import usable_outcomes
from radiogenomics_assets.defs.assets.evaluation import MODEL_DEPS, stored_predictions
from radiogenomics_assets.defs.assets.outputs import markdown_table, table_output
from radiogenomics_assets.defs.assets.versions import with_code_version
from radiogenomics_assets.defs.names import COHORT, EVALUATION
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.survival.inference import InferenceError, fusion_gains
from radiogenomics_assets.survival.metrics import NoComparablePairsError
from radiogenomics_assets.survival.registry import MODEL_REGISTRY
from radiogenomics_assets.survival.study_protocol import PROTOCOL_NAMES
from radiogenomics_assets.survival.study_results import CI_CONDITION, with_repeat


def _compare(
    spec_name: str, metrics: pd.DataFrame, predictions: pd.DataFrame, outcomes: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One fusion model against its single models, on the rows of one protocol."""
    spec = next(s for s in MODEL_REGISTRY if s.name == spec_name)
    singles = {s.name for s in MODEL_REGISTRY if s.fusion == "single"}
    kept = metrics[(metrics["model"] == spec.name) | metrics["model"].isin(singles)]
    mine = predictions[predictions["model"].isin(set(kept["model"]))]
    # The NB correction's n_train: the rows the models were fitted on (train, or train+val).
    fitted_on = predictions.loc[predictions["model"] == spec.name, "fit_splits"].mode()
    fit_splits = tuple(str(fitted_on.iloc[0]).split(",")) if len(fitted_on) else ("train",)
    per_fold, summary = fusion_gains(kept, mine, outcomes, fit_splits=fit_splits)
    return per_fold, summary


@with_code_version
@multi_asset(
    outs={
        "fusion_gain": AssetOut(
            key=[EVALUATION, "fusion_gain"],
            group_name=EVALUATION,
            kinds={"duckdb"},
            description="Per protocol and fusion model: its best single-modality model, the "
            "mean test C-index gain over every repeat × fold with a paired bootstrap 95% CI, "
            "and the Nadeau–Bengio corrected resampled t-test p-value. CIs: " + CI_CONDITION,
        ),
        "fusion_gain_folds": AssetOut(
            key=[EVALUATION, "fusion_gain_folds"],
            group_name=EVALUATION,
            kinds={"duckdb"},
            description="Per protocol, fusion model, repeat and fold: the test C-index of the "
            "fusion and of its best single model on the test patients both predicted, the "
            "gain and its paired bootstrap 95% CI.",
        ),
    },
    ins={
        "fold_metrics": AssetIn(key=[EVALUATION, "fold_metrics"]),
        "outcomes": AssetIn(key=[COHORT, "outcomes"]),
    },
    deps=MODEL_DEPS,
)
def fusion_gain(
    context: AssetExecutionContext,
    store: StoreResource,
    fold_metrics: pd.DataFrame,
    outcomes: pd.DataFrame,
):
    usable = usable_outcomes(outcomes)
    stored = stored_predictions(store, sorted(set(fold_metrics["model"])))
    every = with_repeat(pd.concat(stored.values(), ignore_index=True)) if stored else None
    fusions = [s.name for s in MODEL_REGISTRY if s.fusion != "single"]
    summaries, folds, refused = [], [], []
    for protocol in PROTOCOL_NAMES if every is not None else ():
        metrics = fold_metrics[fold_metrics["protocol"] == protocol]
        rows = every[every["protocol"] == protocol]
        for name in [f for f in fusions if f in set(metrics["model"])]:
            try:
                per_fold, summary = _compare(name, metrics, rows, usable)
            except (InferenceError, NoComparablePairsError) as error:
                refused.append(f"{name} ({protocol}): {error}")
                continue
            folds.append(per_fold.assign(protocol=protocol))
            summaries.append(summary.assign(protocol=protocol))
    for line in refused:
        context.log.warning(f"fusion gain not computed: {line}")
    summary = _first_protocol(summaries)
    metadata = {
        "gains": _gain_markdown(summary) if summaries else MetadataValue.text("none"),
        "not_compared": "\n".join(refused) or "none",
        "ci": CI_CONDITION,
    }
    yield table_output(summary, output_name="fusion_gain", metadata=metadata)
    yield table_output(_first_protocol(folds), output_name="fusion_gain_folds")


def _gain_markdown(summary: pd.DataFrame) -> MetadataValue:
    bounds = zip(summary["ci_low"], summary["ci_high"], strict=True)
    shown = summary[["protocol", "fusion_model", "best_single_model", "n_folds"]].assign(
        gain=summary["mean_gain"].round(3),
        ci_95=[f"[{low:.3f}, {high:.3f}]" for low, high in bounds],
        p=summary["p_value"].round(3),
    )
    return markdown_table(shown)


def _first_protocol(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame({"protocol": pd.Series(dtype=str)})
    table = pd.concat(frames, ignore_index=True)
    return table[["protocol", *table.columns.drop("protocol")]]


fusion_gain_assets = [fusion_gain]
