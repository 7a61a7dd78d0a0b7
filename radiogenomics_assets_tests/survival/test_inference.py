"""Fusion gains and the corrected resampled t-test, checked against scipy and plain loops."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sksurv.metrics import concordance_index_censored

from radiogenomics_assets.survival.inference import (
    PER_FOLD_COLUMNS,
    SUMMARY_COLUMNS,
    InferenceError,
    best_single_of,
    corrected_resampled_t_test,
    fusion_gains,
)
from radiogenomics_assets.survival.registry import get_spec
from radiogenomics_assets.survival.results import draw_resamples
from radiogenomics_assets.survival.splits import all_fold_splits, assign_test_folds

DIFFERENCES = np.array([0.021, -0.013, 0.047, 0.030, 0.004, 0.038, 0.011, 0.019, -0.022, 0.026])


# --- the corrected resampled t-test -------------------------------------------------------------


def test_corrected_t_test_equals_the_formula_written_out() -> None:
    j = len(DIFFERENCES)
    mean = sum(DIFFERENCES) / j
    variance = sum((d - mean) ** 2 for d in DIFFERENCES) / (j - 1)
    t_expected = mean / ((1 / j + 20 / 80) * variance) ** 0.5
    p_expected = 2 * stats.t.sf(abs(t_expected), df=j - 1)
    t, p = corrected_resampled_t_test(DIFFERENCES, n_train=80, n_test=20)
    assert t == pytest.approx(t_expected, rel=1e-12)
    assert p == pytest.approx(p_expected, rel=1e-12)


def test_without_correction_it_is_the_paired_t_test_and_the_correction_raises_p() -> None:
    plain = stats.ttest_1samp(DIFFERENCES, 0.0)
    t, p = corrected_resampled_t_test(DIFFERENCES, n_train=1e12, n_test=1e-3)
    assert t == pytest.approx(plain.statistic, rel=1e-9)
    assert p == pytest.approx(plain.pvalue, rel=1e-9)
    t_corrected, p_corrected = corrected_resampled_t_test(DIFFERENCES, n_train=80, n_test=20)
    assert abs(t_corrected) < abs(plain.statistic)
    assert p_corrected > plain.pvalue
    # The sign of the mean difference is the sign of t.
    assert np.sign(t_corrected) == np.sign(DIFFERENCES.mean())
    assert corrected_resampled_t_test(-DIFFERENCES, 80, 20)[0] == pytest.approx(-t_corrected)


def test_degenerate_differences_and_bad_inputs() -> None:
    assert all(np.isnan(corrected_resampled_t_test([0.1], 80, 20)))
    assert all(np.isnan(corrected_resampled_t_test([0.0, 0.0, 0.0], 80, 20)))
    assert corrected_resampled_t_test([0.1, 0.1, 0.1], 80, 20) == (np.inf, 0.0)
    assert corrected_resampled_t_test([-0.1, -0.1], 80, 20) == (-np.inf, 0.0)
    with pytest.raises(InferenceError, match="1 non-finite"):
        corrected_resampled_t_test([0.1, np.nan, 0.2], 80, 20)
    with pytest.raises(InferenceError, match="n_train must be a positive"):
        corrected_resampled_t_test(DIFFERENCES, 0, 20)
    with pytest.raises(InferenceError, match="one-dimensional"):
        corrected_resampled_t_test(np.ones((2, 2)), 80, 20)


# --- the best single model ----------------------------------------------------------------------


def _metrics(means: dict[str, float], *, repeats: int = 2, folds: int = 3) -> pd.DataFrame:
    """Test C per model, repeat and fold scattered around a chosen mean per model."""
    rng = np.random.default_rng(5)
    rows = []
    for model, mean in means.items():
        noise = rng.normal(scale=0.03, size=repeats * folds)
        noise -= noise.mean()
        for index, value in enumerate(mean + noise):
            repeat, fold = divmod(index, folds)
            rows.append(
                {
                    "repeat": repeat,
                    "fold": f"fold_{fold + 1}",
                    "model": model,
                    "split": "test",
                    "c_index": value,
                }
            )
    return pd.DataFrame(rows)


def test_best_single_is_the_same_family_on_one_of_the_fusions_modalities() -> None:
    metrics = _metrics(
        {
            "cox_g": 0.60,
            "cox_p": 0.64,
            "cox_d": 0.90,  # not a modality of the G+P fusions
            "mlp_g": 0.70,
            "mlp_p": 0.95,  # another family for the CoxNet fusions
            "cox_ef_g_p": 0.66,
            "if_g_p": 0.72,
        }
    )
    # Validation rows are not test rows, however high.
    metrics = pd.concat(
        [metrics, metrics[metrics["model"] == "cox_g"].assign(split="validation", c_index=0.99)]
    )
    test = metrics[metrics["split"] == "test"]
    means = test.groupby("model")["c_index"].mean()
    assert best_single_of(get_spec("cox_ef_g_p"), metrics) == means[["cox_g", "cox_p"]].idxmax()
    assert best_single_of("if_g_p", metrics) == means[["mlp_g", "mlp_p"]].idxmax()
    # A candidate lacking one of the fusion's folds is not compared.
    lacking = metrics[~((metrics["model"] == "cox_p") & (metrics["fold"] == "fold_2"))]
    assert best_single_of("cox_ef_g_p", lacking) == "cox_g"


def test_best_single_refuses_singles_and_fusions_without_candidates() -> None:
    metrics = _metrics({"cox_ef_g_p": 0.66, "cox_d": 0.7})
    with pytest.raises(InferenceError, match="cox_g is a single-modality model"):
        best_single_of("cox_g", metrics)
    with pytest.raises(InferenceError, match=r"no single-modality coxnet model of cox_ef_g_p"):
        best_single_of("cox_ef_g_p", metrics)
    with pytest.raises(InferenceError, match="no test C-index of the fusion model cox_lf_g_p"):
        best_single_of("cox_lf_g_p", metrics)
    repeated = pd.concat([metrics, metrics.iloc[:1]])
    with pytest.raises(InferenceError, match=r"repeat \(model, repeat, fold\)"):
        best_single_of("cox_ef_g_p", repeated)


# --- fusion gains -------------------------------------------------------------------------------


def _cohort(n: int = 90, repeats: int = 2) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Outcomes, predictions of two singles and one fusion over repeats × 5 folds, and metrics.

    The fusion drops two test patients of one fold, the single models two of another and
    three training patients of a third.
    """
    rng = np.random.default_rng(3)
    ids = [f"T{i:03d}" for i in range(n)]
    days = rng.permutation(np.arange(100.0, 100.0 + 25.0 * n, 25.0))
    event = (rng.uniform(size=n) < 0.55).astype(int)
    outcomes = pd.DataFrame({"patient_id": ids, "event": event, "days": days})
    risks = {
        "cox_g": -days + rng.normal(scale=700, size=n),
        "cox_p": -days + rng.normal(scale=900, size=n),
        "cox_ef_g_p": -days + rng.normal(scale=500, size=n),
    }
    frames = []
    for repeat in range(repeats):
        splits = all_fold_splits(assign_test_folds(outcomes, seed=repeat), seed=repeat)
        for model, risk in risks.items():
            frames.append(
                splits[["patient_id", "fold", "split"]].assign(
                    repeat=repeat,
                    model=model,
                    risk=pd.Series(risk, index=ids).loc[splits["patient_id"]].to_numpy(),
                )
            )
    predictions = pd.concat(frames, ignore_index=True)
    test = predictions["split"] == "test"
    drop_fusion = predictions[
        test
        & (predictions["model"] == "cox_ef_g_p")
        & (predictions["repeat"] == 0)
        & (predictions["fold"] == "fold_2")
    ].index[:2]
    drop_single = predictions[
        test
        & predictions["model"].isin(["cox_g", "cox_p"])
        & (predictions["repeat"] == 1)
        & (predictions["fold"] == "fold_4")
    ].index[:2]
    drop_train = predictions[
        (predictions["split"] == "train")
        & predictions["model"].isin(["cox_g", "cox_p"])
        & (predictions["repeat"] == 0)
        & (predictions["fold"] == "fold_1")
    ].index[:3]
    predictions = predictions.drop(index=drop_fusion.union(drop_single).union(drop_train))
    indexed = outcomes.set_index("patient_id")
    rows = []
    for (repeat, fold, model), part in predictions[predictions["split"] == "test"].groupby(
        ["repeat", "fold", "model"]
    ):
        outcome = indexed.loc[part["patient_id"]]
        c = concordance_index_censored(
            outcome["event"].astype(bool).to_numpy(), outcome["days"].to_numpy(), part["risk"]
        )[0]
        rows.append({"repeat": repeat, "fold": fold, "model": model, "split": "test", "c_index": c})
    return outcomes, predictions, pd.DataFrame(rows)


def _shared_test(
    predictions: pd.DataFrame, outcomes: pd.DataFrame, fusion: str, single: str, repeat, fold
) -> pd.DataFrame:
    """The test patients both models predicted, by id, with their outcome and both risks."""
    part = predictions[
        (predictions["repeat"] == repeat)
        & (predictions["fold"] == fold)
        & (predictions["split"] == "test")
    ]
    a = part[part["model"] == fusion].set_index("patient_id")["risk"].rename("fusion")
    b = part[part["model"] == single].set_index("patient_id")["risk"].rename("single")
    both = pd.concat([a, b], axis=1, join="inner").sort_index()
    return both.join(outcomes.set_index("patient_id"))


def _harrell(frame: pd.DataFrame, column: str, rows: np.ndarray | None = None) -> float:
    picked = frame if rows is None else frame.iloc[rows]
    try:
        return concordance_index_censored(
            picked["event"].astype(bool).to_numpy(), picked["days"].to_numpy(), picked[column]
        )[0]
    except ValueError:  # no comparable pair in the replicate
        return np.nan


def test_fusion_gains_per_fold_equal_sksurv_on_the_shared_patients() -> None:
    outcomes, predictions, metrics = _cohort()
    per_fold, summary = fusion_gains(metrics, predictions, outcomes, n_boot=40, seed=4)
    assert list(per_fold.columns) == list(PER_FOLD_COLUMNS)
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    single = best_single_of("cox_ef_g_p", metrics)
    assert per_fold["fusion_model"].tolist() == ["cox_ef_g_p"] * 10
    assert (per_fold["best_single_model"] == single).all()
    assert list(zip(per_fold["repeat"], per_fold["fold"], strict=True)) == [
        (r, f"fold_{k}") for r in range(2) for k in range(1, 6)
    ]
    for row in per_fold.itertuples(index=False):
        shared = _shared_test(predictions, outcomes, "cox_ef_g_p", single, row.repeat, row.fold)
        assert row.n_test == len(shared)
        assert row.fusion_c_index == pytest.approx(_harrell(shared, "fusion"), abs=1e-12)
        assert row.single_c_index == pytest.approx(_harrell(shared, "single"), abs=1e-12)
        assert row.gain == pytest.approx(row.fusion_c_index - row.single_c_index, abs=1e-15)
    dropped = per_fold.set_index(["repeat", "fold"])
    assert dropped.loc[(0, "fold_2"), "n_test_single_only"] == 2
    assert dropped.loc[(1, "fold_4"), "n_test_fusion_only"] == 2
    others = dropped.drop(index=[(0, "fold_2"), (1, "fold_4")])
    assert (others["n_test_single_only"] == 0).all() and (others["n_test_fusion_only"] == 0).all()


def test_bootstrap_intervals_equal_a_loop_over_the_same_draws() -> None:
    outcomes, predictions, metrics = _cohort()
    n_boot, seed = 40, 9
    per_fold, summary = fusion_gains(metrics, predictions, outcomes, n_boot=n_boot, seed=seed)
    single = per_fold["best_single_model"].iloc[0]
    shared = [
        _shared_test(predictions, outcomes, "cox_ef_g_p", single, repeat, fold)
        for repeat, fold in zip(per_fold["repeat"], per_fold["fold"], strict=True)
    ]
    draws = draw_resamples(
        [frame["event"].astype(bool).to_numpy() for frame in shared], n_boot=n_boot, seed=seed
    )
    gains = np.array(
        [
            [_harrell(frame, "fusion", rows) - _harrell(frame, "single", rows) for rows in drawn]
            for frame, drawn in zip(shared, draws, strict=True)
        ]
    )
    for index, row in enumerate(per_fold.itertuples(index=False)):
        scored = gains[index][np.isfinite(gains[index])]
        assert row.n_boot_scored == len(scored)
        assert row.gain_ci_low == pytest.approx(np.percentile(scored, 2.5), abs=1e-12)
        assert row.gain_ci_high == pytest.approx(np.percentile(scored, 97.5), abs=1e-12)
    means = gains.mean(axis=0)
    scored = means[np.isfinite(means)]
    result = summary.iloc[0]
    assert result["n_boot_scored"] == len(scored)
    assert result["ci_low"] == pytest.approx(np.percentile(scored, 2.5), abs=1e-12)
    assert result["ci_high"] == pytest.approx(np.percentile(scored, 97.5), abs=1e-12)
    assert result["ci_low"] < result["ci_high"]


def test_summary_tests_the_mean_gain_with_the_counts_of_the_predictions() -> None:
    outcomes, predictions, metrics = _cohort()
    per_fold, summary = fusion_gains(metrics, predictions, outcomes, n_boot=20, seed=1)
    result = summary.set_index("fusion_model").loc["cox_ef_g_p"]
    single = result["best_single_model"]
    n_train, n_test = [], []
    for (repeat, fold), part in predictions.groupby(["repeat", "fold"]):
        ids = {
            model: set(rows["patient_id"])
            for model, rows in part[part["split"] == "train"].groupby("model")
        }
        n_train.append(len(ids["cox_ef_g_p"] & ids[single]))
        n_test.append(len(_shared_test(predictions, outcomes, "cox_ef_g_p", single, repeat, fold)))
    assert result["n_train"] == pytest.approx(np.mean(n_train))
    assert result["n_test"] == pytest.approx(np.mean(n_test))
    gains = per_fold["gain"].to_numpy()
    j = len(gains)
    assert result["n_folds"] == j == 10
    assert result["mean_gain"] == pytest.approx(gains.mean())
    assert result["sd_gain"] == pytest.approx(gains.std(ddof=1))
    t = gains.mean() / np.sqrt((1 / j + np.mean(n_test) / np.mean(n_train)) * gains.var(ddof=1))
    assert result["t_statistic"] == pytest.approx(t, rel=1e-10)
    assert result["p_value"] == pytest.approx(2 * stats.t.sf(abs(t), j - 1), rel=1e-10)


def test_identical_models_gain_exactly_zero_on_every_replicate() -> None:
    # Both models resample the same patients: with equal risks every replicate's gain is 0.
    outcomes, predictions, metrics = _cohort()
    fusion = predictions[predictions["model"] == "cox_ef_g_p"]
    copies = fusion.assign(model="cox_g")
    predictions = pd.concat([fusion, copies], ignore_index=True)
    metrics = metrics[metrics["model"] == "cox_ef_g_p"]
    metrics = pd.concat([metrics, metrics.assign(model="cox_g")], ignore_index=True)
    per_fold, summary = fusion_gains(metrics, predictions, outcomes, n_boot=30, seed=2)
    assert (per_fold[["gain", "gain_ci_low", "gain_ci_high"]] == 0).all().all()
    assert (summary[["mean_gain", "ci_low", "ci_high"]] == 0).all().all()
    assert np.isnan(summary["p_value"]).all()


def test_fusion_gains_refuse_frames_without_repeats_or_predictions() -> None:
    outcomes, predictions, metrics = _cohort()
    with pytest.raises(InferenceError, match=r"predictions lack columns \['repeat'\]"):
        fusion_gains(metrics, predictions.drop(columns="repeat"), outcomes, n_boot=5)
    no_single = predictions[
        ~(
            predictions["model"].isin(["cox_g", "cox_p"])
            & (predictions["repeat"] == 1)
            & (predictions["fold"] == "fold_3")
            & (predictions["split"] == "test")
        )
    ]
    with pytest.raises(InferenceError, match=r"no test predictions of cox_\w+ in .*repeat 1"):
        fusion_gains(metrics, no_single, outcomes, n_boot=5)
    with pytest.raises(InferenceError, match="n_boot must be positive"):
        fusion_gains(metrics, predictions, outcomes, n_boot=0)
