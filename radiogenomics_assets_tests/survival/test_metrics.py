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
    evaluate_predictions,
    evaluate_split,
    supported_times,
)
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
