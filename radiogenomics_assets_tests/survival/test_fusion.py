from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pytest
from sksurv.metrics import concordance_index_censored

from radiogenomics_assets.survival.design import FeatureError
from radiogenomics_assets.survival.fitted import evaluate_fitted
from radiogenomics_assets.survival.fitting import fit_predict, load_predictor
from radiogenomics_assets.survival.fusion import (
    LateFusionModel,
    ModelFileError,
    load_model,
)
from radiogenomics_assets.survival.model_file import MODEL_FILE_SUFFIX
from radiogenomics_assets.survival.registry import RegistryError, get_spec
from radiogenomics_assets.survival.splits import NoEventInSplitError
from radiogenomics_assets_tests.survival.synthetic import Cohort, with_hyperparameters


def _ids(splits: pd.DataFrame, split: str) -> list[str]:
    return splits.loc[splits["split"] == split, "patient_id"].tolist()


def test_patients_lacking_a_modality_are_dropped_and_counted(
    cohort: Cohort, fold1: pd.DataFrame
) -> None:
    gone = _ids(fold1, "test")[:2] + _ids(fold1, "train")[:3]
    features = {**cohort.features, "densenet": cohort.features["densenet"].drop(index=gone)}
    fused = fit_predict(
        get_spec("cox_ef_g_d"), features, cohort.outcomes, fold1, alpha_selection="paper", seed=0
    )
    assert fused.n_dropped == {"train": 3, "validation": 0, "test": 2}
    assert set(fused.dropped["test"]) == set(gone[:2])
    assert not set(gone) & set(fused.predictions["patient_id"])
    assert len(fused.predictions) == len(fold1) - 5
    metrics, _ = evaluate_fitted(fused, cohort.outcomes)
    assert metrics.set_index("split")["n_dropped"].to_dict() == {"validation": 0, "test": 2}
    genomics_only = fit_predict(
        get_spec("cox_g"), features, cohort.outcomes, fold1, alpha_selection="paper", seed=0
    )
    assert genomics_only.n_dropped == {"train": 0, "validation": 0, "test": 0}
    assert genomics_only.predictions["patient_id"].tolist() == sorted(fold1["patient_id"])
    assert genomics_only.summary()["n_dropped_test"] == 0


def test_inputs_are_checked_at_the_boundary(cohort: Cohort, fold1: pd.DataFrame) -> None:
    spec = get_spec("cox_ef_g_p")
    with pytest.raises(FeatureError, match=r"no features were given for \['pyradiomics'\]"):
        fit_predict(
            spec,
            {"genomics": cohort.features["genomics"]},
            cohort.outcomes,
            fold1,
            alpha_selection="paper",
            seed=0,
        )
    broken = cohort.features["pyradiomics"].copy()
    patient = _ids(fold1, "train")[4]
    broken.loc[patient, "original_feature_3"] = np.nan
    with pytest.raises(
        FeatureError, match=rf"1 missing or non-finite .*{patient}/original_feature_3"
    ):
        fit_predict(
            spec,
            {**cohort.features, "pyradiomics": broken},
            cohort.outcomes,
            fold1,
            alpha_selection="paper",
            seed=0,
        )
    test_events = [
        p for p in _ids(fold1, "test") if p in set(cohort.outcomes.query("event == 1").patient_id)
    ]
    with pytest.raises(NoEventInSplitError, match="no event in fold_1/test"):
        fit_predict(
            spec,
            {**cohort.features, "genomics": cohort.features["genomics"].drop(index=test_events)},
            cohort.outcomes,
            fold1,
            alpha_selection="paper",
            seed=0,
        )
    with pytest.raises(RegistryError, match="late_fusion must be one of"):
        fit_predict(
            with_hyperparameters("cox_lf_g_p", late_fusion="max"),
            cohort.features,
            cohort.outcomes,
            fold1,
            alpha_selection="paper",
            seed=0,
        )


@pytest.mark.parametrize("rule", ["mean_standardised_risk", "sum_risk"])
def test_late_fusion_aggregates_the_block_risks(
    cohort: Cohort, fold1: pd.DataFrame, rule: str
) -> None:
    spec = with_hyperparameters("cox_lf_g_p", late_fusion=rule)
    fitted = fit_predict(
        spec, cohort.features, cohort.outcomes, fold1, alpha_selection="validation", seed=0
    )
    model = fitted.estimator
    assert isinstance(model, LateFusionModel)
    assert fitted.survival_functions is None
    assert [block.modalities for block in fitted.blocks] == [("genomics",), ("pyradiomics",)]
    everyone = fitted.predictions["patient_id"]
    blocks = {m: cohort.features[m].loc[everyone] for m in spec.modalities}
    raw = pd.DataFrame(
        {
            m: member.predict(blocks)
            for m, member in zip(spec.modalities, model.members, strict=True)
        }
    )
    train = (fitted.predictions["split"] == "train").to_numpy()
    if rule == "sum_risk":
        expected = raw.sum(axis=1)
    else:
        expected = ((raw - raw[train].mean()) / raw[train].std(ddof=0)).mean(axis=1)
    np.testing.assert_allclose(fitted.predictions["risk"], expected.to_numpy(), rtol=1e-10)
    metrics, _ = evaluate_fitted(fitted, cohort.outcomes)
    assert metrics["ibs"].isna().all()
    assert (metrics["ibs_note"] == "the model gives no survival function").all()


def test_reported_c_index_and_summary_match_sksurv(cohort: Cohort, fold1: pd.DataFrame) -> None:
    fitted = fit_predict(
        get_spec("cox_ef_g_p_d"),
        cohort.features,
        cohort.outcomes,
        fold1,
        alpha_selection="validation",
        seed=0,
    )
    test = fitted.predictions[fitted.predictions["split"] == "test"]
    outcome = cohort.outcomes.set_index("patient_id").loc[test["patient_id"]]
    expected = concordance_index_censored(
        outcome["event"].astype(bool).to_numpy(),
        outcome["days"].to_numpy(),
        test["risk"].to_numpy(),
    )[0]
    assert fitted.test_c_index == expected
    summary = fitted.summary()
    assert summary["c_index_test"] == expected
    assert summary["alpha_selection"] == "validation"
    assert summary["n_features_in_genomics"] == 30
    assert summary["n_features_out_densenet"] == 20
    assert summary["n_test"] == len(test)
    assert fitted.blocks[0].selected_genes == fitted.selected_genes
    assert len(fitted.selected_genes) == 30


@pytest.mark.parametrize("name", ["cox_ef_g_p", "cox_lf_g_p"])
def test_saved_model_predicts_like_the_fitted_one(
    cohort: Cohort, fold1: pd.DataFrame, tmp_path, name: str
) -> None:
    fitted = fit_predict(
        get_spec(name), cohort.features, cohort.outcomes, fold1, alpha_selection="paper", seed=0
    )
    path = tmp_path / f"{name}{MODEL_FILE_SUFFIX}"
    assert fitted.save(path) is None
    payload = load_model(path)
    assert payload["model"] == name and payload["fit_splits"] == ("train",)
    assert payload["estimator"].__class__ is fitted.estimator.__class__
    test_ids = _ids(fold1, "test")
    blocks = {m: cohort.features[m].loc[test_ids] for m in get_spec(name).modalities}
    expected = fitted.predictions.set_index("patient_id").loc[test_ids, "risk"]
    # equal up to rounding: BLAS sums a 30-row batch in another order than the full one
    np.testing.assert_allclose(
        payload["estimator"].predict(blocks).to_numpy(), expected, rtol=1e-12
    )
    np.testing.assert_allclose(
        load_predictor(path).predict(blocks).to_numpy(), expected, rtol=1e-12
    )
    # A file of the former format (a bare joblib pickle) is refused, not unpickled.
    joblib.dump({"model": name, "estimator": fitted.estimator}, tmp_path / "other.joblib")
    with pytest.raises(ModelFileError, match=r"other\.joblib is not a model file"):
        load_model(tmp_path / "other.joblib")


@pytest.mark.parametrize("name", ["cox_ef_g_p", "cox_lf_g_p_d"])
def test_same_seed_gives_identical_predictions_and_metrics(
    cohort: Cohort, fold1: pd.DataFrame, name: str
) -> None:
    runs = [
        fit_predict(
            get_spec(name),
            cohort.features,
            cohort.outcomes,
            fold1,
            alpha_selection="inner_cv",
            seed=5,
        )
        for _ in range(2)
    ]
    pd.testing.assert_frame_equal(runs[0].predictions, runs[1].predictions)
    first, second = (evaluate_fitted(run, cohort.outcomes) for run in runs)
    pd.testing.assert_frame_equal(first[0], second[0])
    pd.testing.assert_frame_equal(first[1], second[1])
    assert runs[0].summary() == runs[1].summary()
