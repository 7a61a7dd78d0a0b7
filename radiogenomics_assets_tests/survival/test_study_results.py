from __future__ import annotations

import numpy as np
import pandas as pd

from radiogenomics_assets.survival.metrics import harrell_c_index
from radiogenomics_assets.survival.splits import all_fold_splits, assign_test_folds
from radiogenomics_assets.survival.study_results import study_markdown, study_results_table
from radiogenomics_assets.survival.targets import make_target

NULL_FOLDS = ("fold_5", "fold_3")


def _study(*, flag: bool = True) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Outcomes, predictions and test metrics of cox_g, cox_p and mlp_g under ``paper``; cox_g
    predicts one risk for everyone in NULL_FOLDS and its rows there carry ``null_model``."""
    rng = np.random.default_rng(0)
    ids = [f"S{i:03d}" for i in range(60)]
    days = rng.permutation(np.arange(100, 100 + 30 * len(ids), 30))
    outcomes = pd.DataFrame(
        {"patient_id": ids, "event": (rng.uniform(size=len(ids)) < 0.5).astype(int), "days": days}
    )
    splits = all_fold_splits(assign_test_folds(outcomes, seed=0), seed=0)
    frames = []
    for model in ("cox_g", "cox_p", "mlp_g"):
        risk = pd.Series(-days + rng.normal(scale=500, size=len(ids)), index=ids)
        frame = splits.assign(model=model, risk=risk.loc[splits["patient_id"]].to_numpy())
        null = (model == "cox_g") & frame["fold"].isin(NULL_FOLDS)
        frame.loc[null, "risk"] = 0.0
        # mlp_g's rows hold no flag, as partitions stored before it existed.
        frame["null_model"] = null if model != "mlp_g" else None
        frames.append(frame)
    predictions = pd.concat(frames, ignore_index=True).assign(protocol="paper")
    if not flag:
        predictions = predictions.drop(columns="null_model")
    indexed = outcomes.set_index("patient_id")
    rows = []
    for (model, fold), part in predictions[predictions["split"] == "test"].groupby(
        ["model", "fold"]
    ):
        outcome = indexed.loc[part["patient_id"]]
        target = make_target(outcome["event"].to_numpy(), outcome["days"].to_numpy(float))
        c = harrell_c_index(target, part["risk"].to_numpy(), where=f"{model} {fold}")
        rows.append({"protocol": "paper", "model": model, "fold": fold, "c_index": c})
    metrics = pd.DataFrame(rows).assign(split="test")
    return outcomes, predictions, metrics


def test_table1_names_the_null_model_folds_of_each_model() -> None:
    outcomes, predictions, metrics = _study()
    table, _ = study_results_table(metrics, predictions, outcomes, n_boot=20)
    folds = table.set_index("model")["null_model_folds"].to_dict()
    assert folds == {"cox_g": "fold_3, fold_5", "cox_p": "", "mlp_g": ""}
    cox_g = table.set_index("model").loc["cox_g"]
    assert (cox_g["fold_3"], cox_g["fold_5"]) == (0.5, 0.5)

    texts = study_markdown(table)
    footnote = "Cox(G): fold_3, fold_5 chose the null model (constant risk, C = 0.500)"
    assert footnote in texts["table_1a_paper"]
    # The line follows the table, apart from it, and names no model that ranked.
    assert texts["table_1a_paper"].split("\n\n")[1].startswith(footnote)
    assert "Cox(P):" not in texts["table_1a_paper"]
    assert "null model" not in texts["table_1b_paper"]


def test_predictions_without_the_flag_name_no_null_model_fold() -> None:
    outcomes, predictions, metrics = _study(flag=False)
    table, _ = study_results_table(metrics, predictions, outcomes, n_boot=20)
    assert (table["null_model_folds"] == "").all()
    assert not any("null model" in text for text in study_markdown(table).values())
