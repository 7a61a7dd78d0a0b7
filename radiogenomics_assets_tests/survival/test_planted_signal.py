"""End-to-end behaviour on a cohort with a planted signal in genomics and pyradiomics only."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from radiogenomics_assets.survival.coxnet import ALPHA_SELECTIONS, AlphaSelection
from radiogenomics_assets.survival.fitted import evaluate_fitted
from radiogenomics_assets.survival.fitting import fit_predict
from radiogenomics_assets.survival.metrics import evaluate_predictions
from radiogenomics_assets.survival.registry import MODEL_REGISTRY, get_spec
from radiogenomics_assets.survival.results import oracle_predictions
from radiogenomics_assets.survival.splits import FOLD_NAMES, split_fold
from radiogenomics_assets_tests.survival.synthetic import SEED, Cohort


def cross_validate(
    cohort: Cohort,
    assignment: pd.DataFrame,
    names: Sequence[str],
    mode: AlphaSelection,
    *,
    folds: Sequence[str] = FOLD_NAMES,
) -> pd.DataFrame:
    """Test-split fold metrics of ``names`` (and the oracle) over ``folds``."""
    rows = []
    for fold in folds:
        splits = split_fold(assignment, fold, seed=SEED)
        for name in names:
            fitted = fit_predict(
                get_spec(name),
                cohort.features,
                cohort.outcomes,
                splits,
                alpha_selection=mode,
                seed=SEED,
            )
            rows.append(evaluate_fitted(fitted, cohort.outcomes, splits=("test",))[0])
        oracle = oracle_predictions(cohort.true_risk, splits)
        rows.append(
            evaluate_predictions(
                oracle, cohort.outcomes, model="oracle", fold=fold, splits=("test",)
            )[0]
        )
    return pd.concat(rows, ignore_index=True)


def test_informative_modalities_beat_chance_and_fusion_beats_each_single(
    cohort: Cohort, assignment: pd.DataFrame
) -> None:
    names = ["cox_g", "cox_p", "cox_d", "cox_ef_g_p", "cox_lf_g_p"]
    metrics = cross_validate(cohort, assignment, names, "validation")
    by_model = metrics.groupby("model")["c_index"]
    mean, sd = by_model.mean(), by_model.std(ddof=1)
    for name in ("cox_g", "cox_p"):
        # clearly above chance: two standard errors over the folds
        assert mean[name] - 2 * sd[name] / np.sqrt(5) > 0.5, (name, mean[name], sd[name])
    for fused in ("cox_ef_g_p", "cox_lf_g_p"):
        assert mean[fused] > max(mean["cox_g"], mean["cox_p"]), mean.to_dict()
    # densenet carries no signal: its model ranks below both informative ones
    assert mean["cox_d"] < min(mean["cox_g"], mean["cox_p"])
    # nothing beats knowing the true hazard by a margin
    assert mean["oracle"] > max(mean[name] for name in names) - 0.02
    assert np.isfinite(metrics["c_index_uno"]).all() and np.isfinite(metrics["mean_auc"]).all()


@pytest.mark.parametrize("mode", ALPHA_SELECTIONS)
def test_every_alpha_selection_runs_early_and_late_fusion(
    cohort: Cohort, assignment: pd.DataFrame, mode: AlphaSelection
) -> None:
    metrics = cross_validate(
        cohort, assignment, ["cox_ef_g_p", "cox_lf_g_p"], mode, folds=["fold_2"]
    )
    models = metrics.set_index("model")
    assert set(models.index) == {"cox_ef_g_p", "cox_lf_g_p", "oracle"}
    assert ((models["c_index"] > 0.5) & (models["c_index"] <= 1)).all(), models["c_index"]


@pytest.mark.science
def test_all_models_and_modes_over_five_folds(
    cohort: Cohort, assignment: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    names = [spec.name for spec in MODEL_REGISTRY if spec.estimator == "coxnet"]
    table = {}
    for mode in ALPHA_SELECTIONS:
        metrics = cross_validate(cohort, assignment, names, mode)
        table[mode] = metrics.groupby("model")["c_index"].mean()
        assert table[mode][["cox_g", "cox_p"]].gt(0.5).all()
    with capsys.disabled():
        print("\nmean test C-index per alpha selection\n", pd.DataFrame(table).round(3))
