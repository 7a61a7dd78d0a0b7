from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sksurv.linear_model import CoxnetSurvivalAnalysis
from sksurv.metrics import concordance_index_censored

from radiogenomics_assets.survival.coxnet import (
    AlphaSelectionError,
    CoxnetNumericalError,
    block_preprocessor,
    fit_with_alpha_selection,
)
from radiogenomics_assets.survival.design import prepare_model_data
from radiogenomics_assets.survival.fitted import evaluate_fitted
from radiogenomics_assets.survival.fitting import fit_predict
from radiogenomics_assets.survival.registry import get_spec
from radiogenomics_assets.survival.splits import assign_test_folds, split_fold
from radiogenomics_assets.survival.stored import predictions_frame
from radiogenomics_assets_tests.survival.synthetic import Cohort, make_cohort, with_hyperparameters

ORIGINAL_FIT = CoxnetSurvivalAnalysis.fit


def test_block_preprocessors_select_drop_constants_and_scale() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(30, 6)) * [1, 5, 0.1, 3, 2, 1], columns=list("ABCDEF"))
    frame["F"] = 4.0
    genomics = block_preprocessor("genomics", {"n_genes": 3})
    out = genomics.fit_transform(frame)
    assert list(out.columns) == frame.var().sort_values(ascending=False).index[:3].tolist()
    np.testing.assert_allclose(out.mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.std(ddof=0), 1.0)
    radiomics = block_preprocessor("pyradiomics", {"n_genes": 3}).fit_transform(frame)
    assert list(radiomics.columns) == list("ABCDE")


def _poisoned(cohort: Cohort, patients: pd.Index) -> dict:
    rng = np.random.default_rng(99)
    poisoned = {}
    for modality, block in cohort.features.items():
        block = block.copy()
        noise = rng.normal(size=(len(patients), block.shape[1]))
        block.loc[patients] = block.loc[patients].to_numpy() * 1e6 + noise * 1e3
        poisoned[modality] = block
    return poisoned


@pytest.mark.parametrize("mode", ["paper", "validation", "inner_cv"])
def test_test_rows_do_not_leak_into_selection_scaling_or_coefficients(
    cohort: Cohort, fold1: pd.DataFrame, mode: str
) -> None:
    spec = with_hyperparameters("cox_ef_g_p", n_genes=10)
    clean = fit_predict(spec, cohort.features, cohort.outcomes, fold1, alpha_selection=mode, seed=1)
    test_ids = pd.Index(fold1.loc[fold1["split"] == "test", "patient_id"])
    poisoned_features = _poisoned(cohort, test_ids)
    dirty = fit_predict(
        spec, poisoned_features, cohort.outcomes, fold1, alpha_selection=mode, seed=1
    )
    assert dirty.selected_genes == clean.selected_genes
    for modality in spec.modalities:
        clean_scaler = clean.estimator.preprocessors[modality].named_steps["scale"]
        dirty_scaler = dirty.estimator.preprocessors[modality].named_steps["scale"]
        np.testing.assert_array_equal(dirty_scaler.mean_, clean_scaler.mean_)
        np.testing.assert_array_equal(dirty_scaler.scale_, clean_scaler.scale_)
    np.testing.assert_array_equal(dirty.estimator.coxnet.coef_, clean.estimator.coxnet.coef_)
    assert dirty.blocks[0].choice.alpha == clean.blocks[0].choice.alpha
    fit_rows = clean.predictions["split"] != "test"
    pd.testing.assert_frame_equal(clean.predictions[fit_rows], dirty.predictions[fit_rows])
    # the poison did reach the test rows
    assert not np.allclose(
        clean.predictions.loc[~fit_rows, "risk"], dirty.predictions.loc[~fit_rows, "risk"]
    )


def test_paper_mode_uses_the_smallest_alpha(cohort: Cohort, fold1: pd.DataFrame) -> None:
    fitted = fit_predict(
        get_spec("cox_p"), cohort.features, cohort.outcomes, fold1, alpha_selection="paper", seed=0
    )
    choice = fitted.blocks[0].choice
    assert choice.alpha_index == choice.n_alphas - 1
    assert choice.alpha == fitted.estimator.alphas.min()
    assert choice.curve is None
    assert fitted.fit_splits == ("train",)


def test_validation_mode_picks_the_best_validation_c_index_on_the_path(
    cohort: Cohort, fold1: pd.DataFrame
) -> None:
    fitted = fit_predict(
        get_spec("cox_g"),
        cohort.features,
        cohort.outcomes,
        fold1,
        alpha_selection="validation",
        seed=0,
    )
    model = fitted.estimator
    chosen = model.alpha_index
    validation = fitted.predictions[fitted.predictions["split"] == "validation"]
    outcome = cohort.outcomes.set_index("patient_id").loc[validation["patient_id"]]
    blocks = {"genomics": cohort.features["genomics"].loc[validation["patient_id"]]}
    scores = []
    for index in range(len(model.alphas)):
        model.alpha_index = index
        risk = model.predict(blocks).to_numpy()
        scores.append(
            concordance_index_censored(
                outcome["event"].astype(bool).to_numpy(), outcome["days"].to_numpy(), risk
            )[0]
        )
    model.alpha_index = chosen
    assert scores[chosen] == max(scores)
    assert chosen == scores.index(max(scores))  # ties go to the larger alpha
    np.testing.assert_allclose(fitted.blocks[0].choice.curve["c_index"], scores)


def test_inner_cv_fits_on_train_and_validation_and_scores_every_inner_fold(
    cohort: Cohort, fold1: pd.DataFrame
) -> None:
    fitted = fit_predict(
        get_spec("cox_p"),
        cohort.features,
        cohort.outcomes,
        fold1,
        alpha_selection="inner_cv",
        seed=0,
    )
    choice = fitted.blocks[0].choice
    assert fitted.fit_splits == ("train", "validation")
    # inner paths may stop early (scikit-survival ends a path once the deviance saturates);
    # an alpha only competes when every inner fold scored it
    complete = choice.curve["n_inner_folds"] == 5
    assert complete.sum() > len(choice.curve) / 2
    assert choice.curve.loc[~complete, "c_index"].isna().all()
    assert choice.alpha_index == int(choice.curve["c_index"].idxmax())
    assert complete[choice.alpha_index]
    metrics, _ = evaluate_fitted(fitted, cohort.outcomes)
    assert metrics.set_index("split").loc["validation", "in_sample"]
    assert not metrics.set_index("split").loc["test", "in_sample"]


def test_alpha_selection_rejects_bad_modes_and_too_few_events(fold1: pd.DataFrame) -> None:
    small = make_cohort(40, seed=3, n_genes=10, n_radiomic=5, n_deep=5)
    splits = split_fold(
        assign_test_folds(small.outcomes[["patient_id", "event"]], seed=0), 1, seed=0
    )
    data = prepare_model_data(["pyradiomics"], small.features, small.outcomes, splits)
    hyperparameters = {**get_spec("cox_p").hyperparameters, "inner_cv_folds": 30}
    with pytest.raises(AlphaSelectionError, match="alpha_selection must be one of"):
        fit_with_alpha_selection(
            ["pyradiomics"],
            data,
            hyperparameters,
            alpha_selection="best",
            seed=0,  # type: ignore[arg-type]
            baseline=False,
            where="x",
        )
    with pytest.raises(AlphaSelectionError, match="inner_cv on small needs 2 <= inner_cv_folds"):
        fit_with_alpha_selection(
            ["pyradiomics"],
            data,
            hyperparameters,
            alpha_selection="inner_cv",
            seed=0,
            baseline=False,
            where="small",
        )


def _failing_below(ratio_limit: float):
    def fit(self: CoxnetSurvivalAnalysis, X: np.ndarray, y: np.ndarray) -> CoxnetSurvivalAnalysis:
        smallest = (
            self.alpha_min_ratio if self.alphas is None else min(self.alphas) / max(self.alphas)
        )
        if smallest < ratio_limit * 0.999:
            raise ArithmeticError("Numerical error, because weights are too large.")
        return ORIGINAL_FIT(self, X, y)

    return fit


def test_numerical_failure_raises_the_smallest_alpha_and_is_reported(
    cohort: Cohort, fold1: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(CoxnetSurvivalAnalysis, "fit", _failing_below(1e-2))
    fitted = fit_predict(
        get_spec("cox_p"), cohort.features, cohort.outcomes, fold1, alpha_selection="paper", seed=0
    )
    choice = fitted.blocks[0].choice
    assert choice.alpha_min_ratio == pytest.approx(1e-2)
    assert choice.alpha >= fitted.estimator.alphas[0] * 1e-2 * (1 - 1e-9)
    assert len(fitted.notes) == 2
    assert "ArithmeticError" in fitted.notes[0] and "refitted with ratio 0.001" in fitted.notes[0]
    assert "refitted with ratio 0.01" in fitted.notes[1]


def test_inner_folds_that_fail_at_small_alphas_exclude_those_alphas(
    cohort: Cohort, fold1: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fit(self: CoxnetSurvivalAnalysis, X: np.ndarray, y: np.ndarray) -> CoxnetSurvivalAnalysis:
        # only the inner fits (given a fixed grid) fail below 1 % of alpha_max
        if self.alphas is not None and min(self.alphas) / max(self.alphas) < 0.00999:
            raise ArithmeticError("Numerical error, because weights are too large.")
        return ORIGINAL_FIT(self, X, y)

    monkeypatch.setattr(CoxnetSurvivalAnalysis, "fit", fit)
    fitted = fit_predict(
        get_spec("cox_p"),
        cohort.features,
        cohort.outcomes,
        fold1,
        alpha_selection="inner_cv",
        seed=0,
    )
    curve = fitted.blocks[0].choice.curve
    alphas = curve["alpha"].to_numpy()
    cut = alphas < alphas[0] * 0.01 * (1 - 1e-9)
    assert cut.any() and curve.loc[cut, "c_index"].isna().all()
    assert (curve.loc[cut, "n_inner_folds"] == 0).all()
    assert curve.loc[~cut, "c_index"].notna().any()
    assert not cut[fitted.blocks[0].choice.alpha_index]
    noted_folds = {note.split("inner fold ")[1][:3] for note in fitted.notes}
    assert noted_folds == {f"{k}/5" for k in range(1, 6)}


def test_persistent_numerical_failure_raises(
    cohort: Cohort, fold1: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(CoxnetSurvivalAnalysis, "fit", _failing_below(1.0))
    with pytest.raises(CoxnetNumericalError, match=r"cox_p on fold_1 \(\d+ rows × 15 features\)"):
        fit_predict(
            get_spec("cox_p"),
            cohort.features,
            cohort.outcomes,
            fold1,
            alpha_selection="paper",
            seed=0,
        )


def test_survival_functions_are_valid_or_omitted_with_a_note(
    cohort: Cohort, fold1: pd.DataFrame
) -> None:
    fitted = fit_predict(
        get_spec("cox_g"),
        cohort.features,
        cohort.outcomes,
        fold1,
        alpha_selection="validation",
        seed=0,
    )
    survival = fitted.survival_functions
    evaluated = fitted.predictions[fitted.predictions["split"] != "train"]["patient_id"]
    assert survival is not None
    assert survival.index.tolist() == evaluated.tolist()
    values = survival.to_numpy()
    assert ((values >= 0) & (values <= 1)).all()
    assert (np.diff(values, axis=1) <= 1e-12).all()

    # Far more genes than training patients: at the smallest alpha the fit separates the
    # training rows and the Breslow baseline overflows.
    wide = make_cohort(60, seed=0, n_genes=200)
    splits = split_fold(
        assign_test_folds(wide.outcomes[["patient_id", "event"]], seed=0), 1, seed=0
    )
    degenerate = fit_predict(
        get_spec("cox_g"), wide.features, wide.outcomes, splits, alpha_selection="paper", seed=0
    )
    assert degenerate.survival_functions is None
    assert "numerically degenerate" in degenerate.notes[0]
    metrics, _ = evaluate_fitted(degenerate, wide.outcomes)
    assert metrics["ibs"].isna().all()


def test_a_null_model_choice_is_flagged_and_explained(cohort: Cohort, fold1: pd.DataFrame) -> None:
    # Pure noise and 14 events: no alpha with a coefficient beats the largest alpha's scores.
    noise = make_cohort(
        40, seed=7, n_genes=10, n_radiomic=5, n_deep=5, weights=(0, 0, 0), hidden_sd=1.0
    )
    splits = split_fold(
        assign_test_folds(noise.outcomes[["patient_id", "event"]], seed=0), 1, seed=0
    )
    for mode, reason in (
        ("inner_cv", "no alpha with non-zero coefficients beat it"),
        ("validation", "no alpha on the path beat a constant risk on the validation split"),
    ):
        fitted = fit_predict(
            get_spec("cox_p"), noise.features, noise.outcomes, splits, alpha_selection=mode, seed=0
        )
        assert (fitted.estimator.coefficients() == 0).all()
        assert fitted.null_model and fitted.summary()["null_model"] is True
        [note] = [n for n in fitted.notes if "null model" in n]
        assert note.startswith(f"cox_p on fold_1: {mode} chose alpha=")
        assert reason in note
        assert fitted.test_c_index == 0.5
        assert predictions_frame(fitted)["null_model"].all()

    informative = fit_predict(
        get_spec("cox_p"),
        cohort.features,
        cohort.outcomes,
        fold1,
        alpha_selection="inner_cv",
        seed=0,
    )
    assert not informative.null_model and informative.summary()["null_model"] is False
    assert not any("null model" in note for note in informative.notes)
    assert not predictions_frame(informative)["null_model"].any()
