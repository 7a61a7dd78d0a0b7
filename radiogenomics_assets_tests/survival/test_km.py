"""Risk groups against training medians, KM curves, log-rank test, at-risk table, PNG."""

from __future__ import annotations

import io
import statistics

import numpy as np
import pandas as pd
import pytest
from lifelines.statistics import logrank_test
from matplotlib.image import imread
from sksurv.compare import compare_survival
from sksurv.util import Surv

from radiogenomics_assets.survival.km import (
    KMInputError,
    at_risk_times,
    build_km_figure,
    km_comparison,
    km_figure,
    risk_groups,
)

FOLDS = ("fold_1", "fold_2", "fold_3")
N_PATIENTS = 60


def _outcomes(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    event_time = np.ceil(rng.exponential(700.0, size=N_PATIENTS)) + 5.0
    censor_time = np.ceil(rng.uniform(100.0, 2500.0, size=N_PATIENTS))
    return pd.DataFrame(
        {
            "patient_id": [f"P{index:03d}" for index in range(N_PATIENTS)],
            "event": (event_time <= censor_time).astype(int),
            "days": np.minimum(event_time, censor_time),
        }
    )


def _predictions(seed: int = 0, repeat: int | None = None) -> pd.DataFrame:
    """Each fold tests a third of the patients, trains on 7 of 9 remaining, validates on the
    rest (validation risks are huge, so a threshold that used them would show it)."""
    rng = np.random.default_rng(seed)
    rows = []
    for number, fold in enumerate(FOLDS):
        for index in range(N_PATIENTS):
            if index % 3 == number:
                split = "test"
            elif index % 9 in (number + 1, number + 4):
                split = "validation"
            else:
                split = "train"
            risk = 100.0 + rng.normal() if split == "validation" else rng.normal()
            rows.append({"fold": fold, "patient_id": f"P{index:03d}", "split": split, "risk": risk})
    frame = pd.DataFrame(rows).assign(model="cox_g")
    return frame if repeat is None else frame.assign(repeat=repeat)


def test_thresholds_are_the_training_medians_and_groups_split_at_them() -> None:
    predictions = _predictions()
    # One test patient exactly at its fold's threshold: not above it, so low risk.
    train_1 = predictions[(predictions["fold"] == "fold_1") & (predictions["split"] == "train")]
    at_median = statistics.median(train_1["risk"].tolist())
    tied = (predictions["fold"] == "fold_1") & (predictions["patient_id"] == "P000")
    predictions.loc[tied, "risk"] = at_median

    groups = risk_groups(predictions)

    assert list(groups.columns) == ["model", "fold", "patient_id", "risk", "threshold", "group"]
    for fold in FOLDS:
        rows = predictions[predictions["fold"] == fold]
        median = statistics.median(rows.loc[rows["split"] == "train", "risk"].tolist())
        test = rows[rows["split"] == "test"].set_index("patient_id")
        mine = groups[groups["fold"] == fold].set_index("patient_id")
        assert sorted(mine.index) == sorted(test.index)
        assert (mine["threshold"] == median).all()
        for patient_id, risk in test["risk"].items():
            assert mine.loc[patient_id, "risk"] == risk
            assert mine.loc[patient_id, "group"] == ("high" if risk > median else "low")
    assert groups.set_index(["fold", "patient_id"]).loc[("fold_1", "P000"), "group"] == "low"
    assert set(groups["group"]) == {"high", "low"}
    assert groups["patient_id"].is_unique  # the test folds partition the patients


def test_each_repeat_has_its_own_threshold() -> None:
    predictions = pd.concat([_predictions(0, repeat=1), _predictions(7, repeat=2)])
    groups = risk_groups(predictions)
    assert list(groups.columns)[:3] == ["model", "repeat", "fold"]
    assert len(groups) == 2 * N_PATIENTS
    for (repeat, fold), rows in groups.groupby(["repeat", "fold"]):
        mine = predictions[
            (predictions["repeat"] == repeat)
            & (predictions["fold"] == fold)
            & (predictions["split"] == "train")
        ]
        assert (rows["threshold"] == statistics.median(mine["risk"].tolist())).all()
    thresholds = groups.groupby(["repeat", "fold"])["threshold"].first()
    assert thresholds.loc[1, "fold_1"] != thresholds.loc[2, "fold_1"]


def _product_limit(event: np.ndarray, days: np.ndarray) -> dict[float, float]:
    """S(t) at each distinct time, written out from the definition."""
    survival, values = 1.0, {}
    for time in sorted(set(days.tolist())):
        at_risk = int((days >= time).sum())
        deaths = int(((days == time) & event).sum())
        survival *= 1.0 - deaths / at_risk
        values[time] = survival
    return values


def test_log_rank_counts_and_curves_equal_direct_computations() -> None:
    outcomes = _outcomes()
    groups = risk_groups(_predictions())
    # Some times are patients' own follow-up times: they are still at risk then (days >= t).
    times = sorted({0.0, 333.0, *outcomes["days"].iloc[[3, 17, 41, 52]].astype(float)})

    comparison = km_comparison(groups, outcomes, times=times)

    joined = groups.merge(outcomes, on="patient_id")
    event = joined["event"].to_numpy().astype(bool)
    days = joined["days"].to_numpy(dtype=float)
    label = joined["group"].to_numpy()
    chi2, p_value = compare_survival(Surv.from_arrays(event, days), label)
    assert comparison.chi2 == pytest.approx(chi2, rel=1e-12)
    assert comparison.p_value == pytest.approx(p_value, rel=1e-12)
    high, low = label == "high", label == "low"
    lifelines_test = logrank_test(days[high], days[low], event[high], event[low])
    assert comparison.p_value == pytest.approx(lifelines_test.p_value, rel=1e-6)

    for group, mask in (("high", high), ("low", low)):
        assert comparison.n[group] == int(mask.sum())
        assert comparison.events[group] == int(event[mask].sum())
        assert list(comparison.at_risk.loc[group]) == [int((days[mask] >= t).sum()) for t in times]
        curve = comparison.curves[comparison.curves["group"] == group]
        expected = _product_limit(event[mask], days[mask])
        assert curve["time"].tolist() == list(expected)
        np.testing.assert_allclose(curve["survival"], list(expected.values()), rtol=1e-12)
        ticks = comparison.censored[comparison.censored["group"] == group]
        assert ticks["time"].tolist() == sorted(set(days[mask & ~event].tolist()))
        np.testing.assert_allclose(
            ticks["survival"], [expected[t] for t in ticks["time"]], rtol=1e-12
        )
    assert comparison.times == tuple(times)
    assert comparison.model == "cox_g"
    assert comparison.folds == FOLDS


def test_default_at_risk_times_span_the_follow_up_in_round_steps() -> None:
    outcomes = _outcomes()
    comparison = km_comparison(risk_groups(_predictions()), outcomes)
    longest = outcomes["days"].max()
    steps = np.diff(comparison.times)
    assert comparison.times[0] == 0.0 and len(comparison.times) <= 8
    assert (
        np.allclose(steps, steps[0])
        and comparison.times[-1] <= longest < comparison.times[-1] + steps[0]
    )
    assert list(at_risk_times(2450.0)) == [0.0, 500.0, 1000.0, 1500.0, 2000.0]
    assert list(at_risk_times(1000.0)) == [0.0, 200.0, 400.0, 600.0, 800.0, 1000.0]
    assert list(at_risk_times(1000.0, max_columns=11)) == [100.0 * k for k in range(11)]


def test_png_draws_both_curves_the_p_value_and_the_at_risk_table() -> None:
    comparison = km_comparison(risk_groups(_predictions()), _outcomes())
    figure = build_km_figure(comparison, title="Cox(G), pooled", time_label="Days after CT")
    curves, table = figure.axes
    assert curves.get_xlabel() == "Days after CT"
    legend = curves.get_legend()
    assert legend.get_title().get_text().startswith("log-rank p")
    assert f"{comparison.p_value:.2g}" in legend.get_title().get_text()
    assert [text.get_text() for text in legend.get_texts()] == [
        f"High risk (n={comparison.n['high']}, events={comparison.events['high']})",
        f"Low risk (n={comparison.n['low']}, events={comparison.events['low']})",
    ]
    assert list(curves.get_xticks()) == list(comparison.times)
    drawn = [int(text.get_text()) for text in table.texts]
    expected = [*comparison.at_risk.loc["high"], *comparison.at_risk.loc["low"]]
    assert drawn == expected

    png = km_figure(comparison, title="Cox(G), pooled", time_label="Days after surgery")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert imread(io.BytesIO(png)).ndim == 3


def test_an_empty_risk_group_is_refused_with_the_model_and_folds() -> None:
    predictions = _predictions().assign(risk=0.25)  # a model that ranks everyone alike
    groups = risk_groups(predictions)
    assert set(groups["group"]) == {"low"}
    with pytest.raises(
        KMInputError,
        match=r"high-risk group is empty \(model 'cox_g', folds \['fold_1', 'fold_2', "
        r"'fold_3'\]\): all 60 test patients are low risk",
    ):
        km_comparison(groups, _outcomes())


def test_pooled_repeats_no_events_and_missing_training_rows_are_refused() -> None:
    outcomes = _outcomes()
    repeats = risk_groups(pd.concat([_predictions(0, repeat=1), _predictions(7, repeat=2)]))
    with pytest.raises(KMInputError, match=r"more than once .*several repeats pooled"):
        km_comparison(repeats, outcomes)
    with pytest.raises(KMInputError, match="no recurrence among the 60 test patients"):
        km_comparison(risk_groups(_predictions()), outcomes.assign(event=0))
    no_train = _predictions()
    no_train = no_train[~((no_train["fold"] == "fold_2") & (no_train["split"] == "train"))]
    with pytest.raises(KMInputError, match="fold fold_2 has no training prediction"):
        risk_groups(no_train)
    two_models = pd.concat([_predictions(), _predictions().assign(model="cox_p")])
    with pytest.raises(KMInputError, match=r"one model, got \['cox_g', 'cox_p'\]"):
        risk_groups(two_models)
