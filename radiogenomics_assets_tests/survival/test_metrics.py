from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines.utils import concordance_index
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.metrics import (
    concordance_index_censored,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
    integrated_brier_score,
)

from radiogenomics_assets.survival.metrics import (
    METRIC_COLUMNS,
    PAPER_TIME_GRID,
    MetricInputError,
    NoComparablePairsError,
    StudyHorizonError,
    evaluate_predictions,
    evaluate_split,
    study_horizon,
    study_time_grid,
    supported_times,
)
from radiogenomics_assets.survival.stored import evaluate_stored
from radiogenomics_assets.survival.targets import make_target


def _data(
    n: int, seed: int, *, horizon: float = 2600.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Continuous (tie-free) times, a covariate and its risk."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    event_time = 900.0 * rng.exponential(size=n) * np.exp(-0.8 * x)
    censor_time = rng.uniform(100.0, horizon, size=n)
    time = np.minimum(event_time, censor_time) + rng.uniform(0, 1e-3, size=n)
    return (event_time <= censor_time), time, x


def _split() -> dict[str, np.ndarray]:
    event, time, x = _data(160, 0)
    # training follow-up reaches past every evaluation time
    train = np.arange(120)
    test = np.arange(120, 160)
    time[0] = time[test].max() + 100.0
    return {
        "train": make_target(event[train], time[train]),
        "test": make_target(event[test], time[test]),
        "x_train": x[train],
        "x_test": x[test],
        "event_test": event[test],
        "time_test": time[test],
    }


def _expected_grid(train: np.ndarray, event: np.ndarray, time: np.ndarray) -> np.ndarray:
    horizon = train["days"].max()
    low, high = time[event].min(), time.max()
    return np.array([t for t in PAPER_TIME_GRID if low <= t < high and t < horizon])


def test_concordances_equal_sksurv_and_lifelines() -> None:
    d = _split()
    risk = d["x_test"] + np.random.default_rng(1).normal(scale=0.5, size=len(d["x_test"]))
    result = evaluate_split(d["train"], d["test"], risk)
    direct = concordance_index_censored(d["event_test"], d["time_test"], risk)[0]
    assert result["c_index"] == direct
    assert result["c_index"] == pytest.approx(
        concordance_index(d["time_test"], -risk, d["event_test"]), abs=1e-12
    )
    tau = d["train"]["days"].max()
    assert result["tau"] == tau
    assert result["c_index_uno"] == concordance_index_ipcw(d["train"], d["test"], risk, tau=tau)[0]
    assert result["n_censored_at_horizon"] == 0
    assert result["n_patients"] == 40
    assert result["n_events"] == int(d["event_test"].sum())


def test_time_dependent_auc_equals_sksurv_on_the_clipped_grid() -> None:
    d = _split()
    risk = d["x_test"]
    result = evaluate_split(d["train"], d["test"], risk)
    grid = _expected_grid(d["train"], d["event_test"], d["time_test"])
    assert len(grid) > 5
    np.testing.assert_array_equal(result["auc_times"], grid)
    auc, mean_auc = cumulative_dynamic_auc(d["train"], d["test"], risk, grid)
    np.testing.assert_array_equal(result["auc_values"], auc)
    assert result["mean_auc"] == mean_auc
    assert result["n_grid_points"] == len(grid)
    assert result["auc_note"] is None


def test_integrated_brier_score_equals_sksurv_on_step_functions() -> None:
    d = _split()
    model = CoxPHSurvivalAnalysis().fit(d["x_train"][:, None], d["train"])
    functions = model.predict_survival_function(d["x_test"][:, None])
    knots = functions[0].x
    frame = pd.DataFrame(np.vstack([fn(knots) for fn in functions]), columns=knots)
    risk = model.predict(d["x_test"][:, None])
    result = evaluate_split(d["train"], d["test"], risk, frame)
    grid = result["auc_times"]
    expected_estimate = np.vstack([[fn(t) for t in grid] for fn in functions])
    expected = integrated_brier_score(d["train"], d["test"], expected_estimate, grid)
    assert result["ibs"] == pytest.approx(expected, rel=1e-12)
    assert result["ibs_note"] is None
    without = evaluate_split(d["train"], d["test"], risk)
    assert np.isnan(without["ibs"])
    assert without["ibs_note"] == "the model gives no survival function"


def test_evaluation_rows_beyond_the_training_horizon_are_censored_there() -> None:
    d = _split()
    event, time = d["event_test"].copy(), d["time_test"].copy()
    horizon = d["train"]["days"].max()
    event[:3], time[:3] = True, horizon + np.array([10.0, 50.0, 400.0])
    late = make_target(event, time)
    with pytest.raises(ValueError, match=r"largest observed time point|censoring survival"):
        cumulative_dynamic_auc(d["train"], late, d["x_test"], [500.0, 1000.0])
    result = evaluate_split(d["train"], late, d["x_test"])
    assert result["n_censored_at_horizon"] == 3
    assert (result["auc_times"] < horizon).all()
    censored = make_target(np.where(time >= horizon, False, event), np.minimum(time, horizon))
    auc, _ = cumulative_dynamic_auc(d["train"], censored, d["x_test"], result["auc_times"])
    np.testing.assert_array_equal(result["auc_values"], auc)


def test_no_supported_grid_time_gives_nan_with_a_reason() -> None:
    d = _split()
    result = evaluate_split(d["train"], d["test"], d["x_test"], time_grid=[50_000.0, 60_000.0])
    assert result["n_grid_points"] == 0
    assert np.isnan(result["mean_auc"])
    assert result["auc_note"].startswith("no grid time in [")
    assert np.isfinite(result["c_index"])
    times, reason = supported_times(d["train"], d["test"], [1.0])
    assert len(times) == 0 and "no grid time" in reason


def test_no_comparable_pair_and_bad_inputs_raise() -> None:
    d = _split()
    all_censored = make_target(np.zeros(4, dtype=bool), [100.0, 200.0, 300.0, 400.0])
    with pytest.raises(NoComparablePairsError, match=r"no comparable pair in test \(4 patients"):
        evaluate_split(d["train"], all_censored, np.arange(4.0), where="test")
    # The only event at the latest time, tied with the others: no pair, and no 0/0 warning.
    last_event_tied = make_target([False, False, True], [300.0, 300.0, 300.0])
    with pytest.raises(NoComparablePairsError, match=r"no comparable pair in test \(3 patients"):
        evaluate_split(d["train"], last_event_tied, np.arange(3.0), where="test")
    with pytest.raises(MetricInputError, match=r"has shape \(3,\), expected \(40,\)"):
        evaluate_split(d["train"], d["test"], np.arange(3.0))
    risk = d["x_test"].copy()
    risk[0] = np.nan
    with pytest.raises(MetricInputError, match="1 non-finite"):
        evaluate_split(d["train"], d["test"], risk)


def test_evaluate_predictions_gives_one_row_per_split() -> None:
    d = _split()
    ids = [f"P{i:03d}" for i in range(160)]
    split = ["train"] * 120 + ["validation"] * 15 + ["test"] * 25
    event = np.concatenate([d["train"]["event"], d["event_test"]])
    time = np.concatenate([d["train"]["days"], d["time_test"]])
    risk = np.concatenate([d["x_train"], d["x_test"]])
    predictions = pd.DataFrame({"patient_id": ids, "split": split, "risk": risk})
    outcomes = pd.DataFrame({"patient_id": ids, "event": event.astype(int), "days": time})
    metrics, curves = evaluate_predictions(predictions, outcomes, model="m", fold="fold_2")
    assert list(metrics.columns) == list(METRIC_COLUMNS)
    assert metrics["split"].tolist() == ["validation", "test"]
    assert not metrics["in_sample"].any()
    test_rows = slice(135, 160)
    expected = concordance_index_censored(event[test_rows], time[test_rows], risk[test_rows])[0]
    assert metrics.loc[metrics["split"] == "test", "c_index"].item() == expected
    assert set(curves["split"]) == {"validation", "test"}
    assert (curves["fold"] == "fold_2").all()


# --- one horizon and one grid for the whole study -------------------------------------------------


def _uneven_folds(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Outcomes and two repeats of three folds whose follow-up differs a lot between folds.

    Three groups of 50 patients are followed for up to 900, 1800 and 3200 days. In repeat 0 the
    test split of fold k is group k (fold 1 is tested on short follow-up only and fold 3 is
    trained without the long group); repeat 1 assigns folds at random.
    """
    rng = np.random.default_rng(seed)
    reach = np.repeat([900.0, 1800.0, 3200.0], 50)
    event_time = 700.0 * rng.exponential(size=150)
    censor_time = rng.uniform(150.0, reach)
    time = np.minimum(event_time, censor_time) + rng.uniform(0, 1e-3, size=150)
    ids = [f"P{i:03d}" for i in range(150)]
    outcomes = pd.DataFrame(
        {"patient_id": ids, "event": (event_time <= censor_time).astype(int), "days": time}
    )
    rows = []
    for repeat, group in ((0, np.repeat([0, 1, 2], 50)), (1, rng.permutation(150) % 3)):
        for fold in range(3):
            others = np.flatnonzero(group != fold)
            validation = set(rng.choice(others, size=10, replace=False))
            for index in range(150):
                split = (
                    "test"
                    if group[index] == fold
                    else "validation"
                    if index in validation
                    else "train"
                )
                rows.append(
                    {
                        "repeat": repeat,
                        "fold": f"fold_{fold + 1}",
                        "patient_id": ids[index],
                        "split": split,
                    }
                )
    return outcomes, pd.DataFrame(rows)


def _targets_by_fold(outcomes: pd.DataFrame, splits: pd.DataFrame):
    indexed = outcomes.set_index("patient_id")
    for (repeat, fold), part in splits.groupby(["repeat", "fold"]):
        targets = {}
        for split, rows in part.groupby("split"):
            picked = indexed.loc[rows["patient_id"]]
            targets[split] = make_target(picked["event"], picked["days"])
        yield (repeat, fold), targets


def test_study_horizon_is_the_shortest_follow_up_of_every_fold() -> None:
    outcomes, splits = _uneven_folds(0)
    ends = [
        targets[split]["days"].max()
        for _, targets in _targets_by_fold(outcomes, splits)
        for split in ("train", "validation", "test")
    ]
    training_ends = [t["train"]["days"].max() for _, t in _targets_by_fold(outcomes, splits)]
    assert max(training_ends) - min(training_ends) > 500  # the folds really differ
    assert study_horizon(outcomes, splits) == min(ends)
    test_only = [
        targets[split]["days"].max()
        for _, targets in _targets_by_fold(outcomes, splits)
        for split in ("train", "test")
    ]
    assert study_horizon(outcomes, splits, evaluated=("test",)) == min(test_only)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_fold_uses_the_study_tau_and_the_same_grid(seed: int) -> None:
    outcomes, splits = _uneven_folds(seed)
    horizon = study_horizon(outcomes, splits)
    grid = study_time_grid(outcomes, splits, horizon)
    first_events = [
        targets[split]["days"][targets[split]["event"]].min()
        for _, targets in _targets_by_fold(outcomes, splits)
        for split in ("validation", "test")
    ]
    expected_grid = [t for t in PAPER_TIME_GRID if max(first_events) <= t < horizon]
    assert len(expected_grid) >= 2
    np.testing.assert_array_equal(grid, expected_grid)
    rng = np.random.default_rng(seed)
    fold_taus = set()
    for _, targets in _targets_by_fold(outcomes, splits):
        for split in ("validation", "test"):
            target = targets[split]
            risk = -np.log(target["days"]) + rng.normal(scale=0.5, size=len(target))
            result = evaluate_split(targets["train"], target, risk, time_grid=grid, tau=horizon)
            assert result["tau"] == horizon and result["tau_rule"] == "study"
            # scikit-survival is defined on every fold at this tau and grid: no exception here.
            uno = concordance_index_ipcw(targets["train"], target, risk, tau=horizon)[0]
            assert result["c_index_uno"] == uno
            np.testing.assert_array_equal(result["auc_times"], grid)
            beyond = target["days"] >= horizon
            censored = make_target(
                target["event"] & ~beyond, np.where(beyond, horizon, target["days"])
            )
            auc, mean_auc = cumulative_dynamic_auc(targets["train"], censored, risk, grid)
            np.testing.assert_array_equal(result["auc_values"], auc)
            assert result["mean_auc"] == mean_auc
            fold_taus.add(evaluate_split(targets["train"], target, risk)["tau"])
    # Without the study tau each fold truncates at its own training horizon.
    assert len(fold_taus) > 1


def test_default_rule_is_recorded_and_a_tau_beyond_training_refused() -> None:
    d = _split()
    default = evaluate_split(d["train"], d["test"], d["x_test"])
    assert default["tau_rule"] == "fold_training_max"
    assert default["tau"] == d["train"]["days"].max()
    tau = float(np.quantile(d["time_test"], 0.6))
    study = evaluate_split(d["train"], d["test"], d["x_test"], tau=tau)
    assert study["tau_rule"] == "study" and study["tau"] == tau
    assert study["n_grid_points"] > 0 and (study["auc_times"] < tau).all()
    assert study["n_censored_at_horizon"] == (d["time_test"] >= tau).sum()
    with pytest.raises(MetricInputError, match=r"tau=.* must be in \(0, "):
        evaluate_split(d["train"], d["test"], d["x_test"], tau=d["train"]["days"].max() + 1)


def test_horizon_and_grid_refuse_folds_that_cannot_support_them() -> None:
    outcomes, splits = _uneven_folds(0)
    horizon = study_horizon(outcomes, splits)
    with pytest.raises(StudyHorizonError, match=r"beyond the follow-up of repeat=\d, fold=fold_\d"):
        study_time_grid(outcomes, splits, horizon + 1.0)
    with pytest.raises(StudyHorizonError, match="no grid time in"):
        study_time_grid(outcomes, splits, horizon, grid=[10.0, 20.0])
    # One fold's test split loses every event: Uno's C is undefined there.
    test_ids = splits.loc[
        (splits["repeat"] == 1) & (splits["fold"] == "fold_2") & (splits["split"] == "test"),
        "patient_id",
    ]
    no_events = outcomes.assign(
        event=np.where(outcomes["patient_id"].isin(test_ids), 0, outcomes["event"])
    )
    with pytest.raises(StudyHorizonError, match=r"no event before the horizon .*'fold_2'"):
        study_horizon(no_events, splits)
    with pytest.raises(StudyHorizonError, match="have no outcome"):
        study_horizon(outcomes.iloc[1:], splits)
    lacking = splits[~((splits["fold"] == "fold_3") & (splits["split"] == "validation"))]
    with pytest.raises(StudyHorizonError, match=r"fold_3.*no \['validation'\] rows"):
        study_horizon(outcomes, lacking)


def test_evaluate_predictions_and_stored_rows_pass_the_study_tau_on() -> None:
    outcomes, splits = _uneven_folds(1)
    horizon = study_horizon(outcomes, splits)
    grid = study_time_grid(outcomes, splits, horizon)
    part = splits[(splits["repeat"] == 0) & (splits["fold"] == "fold_3")]
    days = outcomes.set_index("patient_id").loc[part["patient_id"], "days"].to_numpy()
    predictions = part.assign(risk=-np.log(days))
    metrics, curves = evaluate_predictions(
        predictions, outcomes, model="m", fold="fold_3", time_grid=grid, tau=horizon
    )
    assert (metrics["tau"] == horizon).all() and (metrics["tau_rule"] == "study").all()
    for _, rows in curves.groupby("split"):
        np.testing.assert_array_equal(rows["time"], grid)
    stored = predictions.assign(fit_splits="train")
    again, _ = evaluate_stored(
        stored, outcomes, model="m", fold="fold_3", time_grid=grid, tau=horizon
    )
    pd.testing.assert_frame_equal(again, metrics)
    default, _ = evaluate_stored(stored, outcomes, model="m", fold="fold_3")
    assert (default["tau_rule"] == "fold_training_max").all()
    assert (default["tau"] > horizon).all()
