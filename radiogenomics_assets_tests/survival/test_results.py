from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sksurv.metrics import concordance_index_censored

from radiogenomics_assets.survival import results as results_module
from radiogenomics_assets.survival.metrics import NoComparablePairsError, harrell_c_index
from radiogenomics_assets.survival.results import (
    ORACLE_LABEL,
    ResultsError,
    bootstrap_mean_c_index,
    draw_resamples,
    oracle_predictions,
    results_markdown,
    results_table,
)
from radiogenomics_assets.survival.splits import FOLD_NAMES, all_fold_splits, assign_test_folds
from radiogenomics_assets.survival.targets import make_target


def _toy(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Outcomes, predictions of two registered models and the oracle, and fold metrics."""
    rng = np.random.default_rng(seed)
    n = 100
    ids = [f"T{i:03d}" for i in range(n)]
    days = rng.permutation(np.arange(100, 100 + 20 * n, 20))
    event = (rng.uniform(size=n) < 0.5).astype(int)
    outcomes = pd.DataFrame({"patient_id": ids, "event": event, "days": days})
    splits = all_fold_splits(assign_test_folds(outcomes, seed=seed), seed=seed)
    risks = {
        "cox_g": -days + rng.normal(scale=600, size=n),
        "cox_ef_g_p": -days + rng.normal(scale=300, size=n),
    }
    frames = [
        splits.assign(
            model=model, risk=pd.Series(risk, index=ids).loc[splits["patient_id"]].to_numpy()
        )
        for model, risk in risks.items()
    ]
    frames.append(oracle_predictions(pd.Series(-days.astype(float), index=ids), splits))
    predictions = pd.concat(frames, ignore_index=True)
    rows = []
    for (model, fold), part in predictions[predictions["split"] == "test"].groupby(
        ["model", "fold"]
    ):
        outcome = outcomes.set_index("patient_id").loc[part["patient_id"]]
        c = concordance_index_censored(
            outcome["event"].astype(bool).to_numpy(),
            outcome["days"].to_numpy(float),
            part["risk"].to_numpy(),
        )[0]
        rows.append({"model": model, "fold": fold, "split": "test", "c_index": c})
    return outcomes, predictions, pd.DataFrame(rows)


def test_table_has_one_row_per_model_with_fold_values_mean_and_sd() -> None:
    outcomes, predictions, metrics = _toy()
    table = results_table(metrics, predictions, outcomes, n_boot=200, seed=1)
    assert table["model"].tolist() == ["cox_g", "cox_ef_g_p", "oracle"]
    assert table["label"].tolist() == ["Cox(G)", "Cox(EF(G, P))", ORACLE_LABEL]
    assert table["paper_table"].tolist() == ["1a", "1a", None]
    assert list(table.columns) == [
        "model",
        "label",
        "paper_table",
        *FOLD_NAMES,
        "mean",
        "sd",
        "ci_low",
        "ci_high",
        "n_boot",
    ]
    wide = metrics.pivot(index="model", columns="fold", values="c_index")
    for row in table.itertuples(index=False):
        values = wide.loc[row.model, list(FOLD_NAMES)].to_numpy()
        assert [getattr(row, fold) for fold in FOLD_NAMES] == values.tolist()
        assert row.mean == pytest.approx(np.mean(values))
        assert row.sd == pytest.approx(np.std(values, ddof=1))
        assert row.ci_low <= row.mean <= row.ci_high
        assert row.n_boot == 200
    oracle = table.set_index("model").loc["oracle"]
    # ranking by true time is perfect in every resample
    assert (oracle["ci_low"], oracle["ci_high"], oracle["mean"]) == (1.0, 1.0, 1.0)


def test_bootstrap_is_seeded_and_keeps_event_counts() -> None:
    outcomes, predictions, metrics = _toy()
    first = results_table(metrics, predictions, outcomes, n_boot=100, seed=3)
    again = results_table(metrics, predictions, outcomes, n_boot=100, seed=3)
    other = results_table(metrics, predictions, outcomes, n_boot=100, seed=4)
    pd.testing.assert_frame_equal(first, again)
    assert not first["ci_low"].equals(other["ci_low"])
    # A fold whose patients are all events ranked perfectly stays at C = 1 in every replicate.
    event = np.ones(6, dtype=bool)
    time = np.arange(1.0, 7.0)
    means, scored = bootstrap_mean_c_index([(event, time, -time)], n_boot=50, seed=0)
    kept = means[0][np.isfinite(means[0])]
    assert len(kept) == scored[0] and (kept == 1.0).all()
    # One event at the latest time: replicates that draw only it have no pair and are skipped.
    late = np.array([False, False, False, True])
    means, scored = bootstrap_mean_c_index(
        [(late, np.array([1.0, 2.0, 4.0, 4.0]), np.arange(4.0))], n_boot=50, seed=0
    )
    assert scored[0] == 0 and np.isnan(means).all()
    with pytest.raises(ResultsError, match="fold 1 of the bootstrap has no event"):
        bootstrap_mean_c_index([(~event, time, -time)], n_boot=5, seed=0)


def _straightforward_means(folds, draws) -> np.ndarray:
    """The bootstrap written plainly: scikit-survival's C of each fold's drawn rows, averaged."""
    means = []
    for replicate in range(len(draws[0])):
        values = []
        for (event, time, risk), drawn in zip(folds, draws, strict=True):
            rows = drawn[replicate]
            rows = rows[np.isfinite(risk[rows])]
            try:
                values.append(harrell_c_index(make_target(event[rows], time[rows]), risk[rows]))
            except NoComparablePairsError:
                values.append(np.nan)
        means.append(np.mean(values))
    return np.array(means)


def test_vectorised_bootstrap_equals_the_straightforward_one_draw_by_draw() -> None:
    outcomes, predictions, _ = _toy(seed=5)
    indexed = outcomes.set_index("patient_id")
    # Tied risks and tied times, and one model that lacks two patients of a fold.
    predictions.loc[predictions["model"] == "cox_g", "risk"] = np.round(
        predictions.loc[predictions["model"] == "cox_g", "risk"], -3
    )
    indexed["days"] = (indexed["days"] // 200 + 1) * 200
    dropped = predictions[
        (predictions["model"] == "cox_ef_g_p") & (predictions["split"] == "test")
    ].index[:2]
    predictions = predictions.drop(index=dropped)
    models = ["cox_g", "cox_ef_g_p", "oracle"]
    folds = [
        results_module.fold_arrays(predictions, indexed, models, fold, "test")
        for fold in FOLD_NAMES
    ]
    means, scored = bootstrap_mean_c_index(folds, n_boot=60, seed=11)
    draws = draw_resamples([event for event, _, _ in folds], n_boot=60, seed=11)
    for index in range(len(models)):
        plain = _straightforward_means(
            [(event, time, risks[index]) for event, time, risks in folds], draws
        )
        np.testing.assert_allclose(means[index], plain, rtol=0, atol=1e-12)
        assert scored[index] == np.isfinite(plain).sum()
    # The models really differ, so agreeing per model is not agreeing by accident.
    assert not np.allclose(means[0], means[1])


def test_every_model_is_scored_on_the_same_draws() -> None:
    outcomes, predictions, metrics = _toy()
    both = results_table(metrics, predictions, outcomes, n_boot=200, seed=2)
    alone = results_table(
        metrics[metrics["model"] == "cox_g"],
        predictions[predictions["model"] == "cox_g"],
        outcomes,
        n_boot=200,
        seed=2,
    )
    columns = ["ci_low", "ci_high", "n_boot"]
    pd.testing.assert_frame_equal(
        both[both["model"] == "cox_g"][columns].reset_index(drop=True), alone[columns]
    )


def test_without_predictions_the_interval_is_missing() -> None:
    _, _, metrics = _toy()
    table = results_table(metrics)
    assert table["ci_low"].isna().all() and (table["n_boot"] == 0).all()
    assert "| n/a |" in results_markdown(table)


def test_incomplete_or_repeated_metrics_are_refused() -> None:
    _, _, metrics = _toy()
    with pytest.raises(ResultsError, match=r"without a C-index in every fold .*\['cox_g'\]"):
        results_table(metrics.drop(index=metrics.index[(metrics["model"] == "cox_g")][:1]))
    with pytest.raises(ResultsError, match="repeat \\(model, fold\\)"):
        results_table(pd.concat([metrics, metrics.head(1)]))
    with pytest.raises(ResultsError, match="no 'validation' rows"):
        results_table(metrics, split="validation")


def test_markdown_follows_the_paper_layout() -> None:
    outcomes, predictions, metrics = _toy()
    table = results_table(metrics, predictions, outcomes, n_boot=50, seed=0)
    text = results_markdown(table)
    lines = text.splitlines()
    assert (
        lines[0] == "| Method | Fold 1 | Fold 2 | Fold 3 | Fold 4 | Fold 5 | Mean ± sd | 95% CI |"
    )
    row = table.set_index("model").loc["cox_g"]
    assert f"{row['mean']:.2f} ± {row['sd']:.2f}" in lines[2]
    assert f"[{row['ci_low']:.2f}, {row['ci_high']:.2f}]" in lines[2]
    assert lines[2].startswith("| Cox(G) |")
    contenders = table[table["model"] != "oracle"].set_index("model")
    for number, fold in enumerate(FOLD_NAMES, start=1):
        best_model = contenders[fold].idxmax()
        line = next(
            line for line in lines if line.startswith(f"| {contenders.loc[best_model, 'label']} |")
        )
        assert f"**{contenders.loc[best_model, fold]:.2f}**" in line.split(" | ")[number]
    assert "**" not in lines[-1] and lines[-1].startswith(f"| {ORACLE_LABEL} |")


def test_markdown_shows_one_half_of_table_1_with_the_oracle() -> None:
    outcomes, predictions, metrics = _toy()
    metrics = pd.concat([metrics, metrics[metrics["model"] == "cox_g"].assign(model="mlp_g")])
    predictions = pd.concat(
        [predictions, predictions[predictions["model"] == "cox_g"].assign(model="mlp_g")]
    )
    table = results_table(metrics, predictions, outcomes, n_boot=20)
    assert table["model"].tolist() == ["cox_g", "cox_ef_g_p", "mlp_g", "oracle"]
    assert table["paper_table"].tolist() == ["1a", "1a", "1b", None]
    linear = results_markdown(table, paper_table="1a").splitlines()[2:]
    neural_lines = results_markdown(table, paper_table="1b").splitlines()[2:]
    assert [line.split(" | ")[0] for line in linear] == [
        "| Cox(G)",
        "| Cox(EF(G, P))",
        f"| {ORACLE_LABEL}",
    ]
    assert [line.split(" | ")[0] for line in neural_lines] == ["| MLP(G)", f"| {ORACLE_LABEL}"]
    # the single neural row is the best of its own table in every fold
    assert neural_lines[0].count("**") == 2 * len(FOLD_NAMES)


def test_oracle_predictions_look_like_a_models() -> None:
    splits = pd.DataFrame(
        {"patient_id": ["A", "B"], "fold": ["fold_1", "fold_1"], "split": ["train", "test"]}
    )
    oracle = oracle_predictions(pd.Series({"A": 0.5, "B": -1.0, "C": 2.0}), splits)
    assert oracle.columns.tolist() == ["model", "fold", "patient_id", "split", "risk"]
    assert oracle["risk"].tolist() == [0.5, -1.0]
    with pytest.raises(ResultsError, match=r"1 patients have no true risk: \['B'\]"):
        oracle_predictions(pd.Series({"A": 0.5}), splits)
