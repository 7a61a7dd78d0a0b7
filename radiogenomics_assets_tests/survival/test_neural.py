from __future__ import annotations

import io

import pandas as pd
import pytest
import torch
from sksurv.metrics import concordance_index_censored

from radiogenomics_assets.survival.fitted import evaluate_fitted
from radiogenomics_assets.survival.fitting import (
    constant_prediction,
    fit_predict,
    load_predictor,
)
from radiogenomics_assets.survival.model_file import (
    MODEL_FILE_SUFFIX,
    ModelFileError,
    read_model_file,
)
from radiogenomics_assets.survival.neural import load_net
from radiogenomics_assets.survival.registry import get_spec
from radiogenomics_assets_tests.survival.synthetic import Cohort
from radiogenomics_assets_tests.survival.test_training import SMALL

TIMING = ("training_seconds", "wall_seconds")


def _fit(name: str, cohort: Cohort, splits: pd.DataFrame, features=None, seed: int = 0):
    return fit_predict(
        get_spec(name),
        features or cohort.features,
        cohort.outcomes,
        splits,
        seed=seed,
        net_training=SMALL,
    )


def test_a_net_predicts_every_patient_and_reports_its_grid(
    cohort: Cohort, fold1: pd.DataFrame
) -> None:
    fitted = _fit("if_g_p", cohort, fold1)
    assert sorted(fitted.predictions["patient_id"]) == sorted(fold1["patient_id"])
    test = fitted.predictions[fitted.predictions["split"] == "test"]
    outcome = cohort.outcomes.set_index("patient_id").loc[test["patient_id"]]
    expected = concordance_index_censored(
        outcome["event"].astype(bool).to_numpy(), outcome["days"].to_numpy(), test["risk"]
    )[0]
    assert fitted.test_c_index == expected
    summary = fitted.summary()
    assert summary["n_configurations"] == 4 and summary["n_discarded"] == 0
    assert summary["weight_decay"] in SMALL.weight_decays
    assert summary["best_step"] >= SMALL.min_steps
    assert summary["device"] == "cpu" and summary["torch_version"] == torch.__version__
    # 30 genes in the synthetic cohort (fewer than 500), 15 radiomic features
    assert (summary["n_features_in_genomics"], summary["n_features_in_pyradiomics"]) == (30, 15)
    assert (
        summary["n_parameters"]
        == (30 * 256 + 256) + (256 * 64 + 64) + (15 * 64 + 64) + (128 * 64 + 64) + 65
    )
    assert fitted.alpha_selection is None and fitted.survival_functions is None
    metrics, _ = evaluate_fitted(fitted, cohort.outcomes)
    assert metrics["ibs"].isna().all() and metrics["c_index"].between(0, 1).all()


def test_the_saved_state_dict_predicts_like_the_fitted_net(
    cohort: Cohort, fold1: pd.DataFrame, tmp_path
) -> None:
    fitted = _fit("block_g_p", cohort, fold1)
    path = tmp_path / f"fold_1{MODEL_FILE_SUFFIX}"
    fitted.save(path)
    header, raw = read_model_file(path, "net")
    assert header["model"] == "block_g_p" and header["chosen"]["best_step"] >= SMALL.min_steps
    assert header["input_dims"] == {"genomics": 30, "pyradiomics": 15}
    payload = torch.load(io.BytesIO(raw), weights_only=True)
    assert set(payload["state_dict"]) == set(fitted.predictor.net.state_dict())
    blocks = {m: cohort.features[m] for m in ("genomics", "pyradiomics")}
    stored = fitted.predictions.set_index("patient_id")["risk"]
    reloaded = load_predictor(path).predict(blocks).loc[stored.index]
    pd.testing.assert_series_equal(reloaded, stored, check_names=False)
    # A file of the former format (a bare torch.save archive) is refused.
    torch.save(payload, tmp_path / "other.pt")
    with pytest.raises(ModelFileError, match=r"other\.pt is a zip archive without header\.json"):
        load_net(tmp_path / "other.pt")


def test_poisoned_test_rows_change_neither_the_choice_nor_the_weights(
    cohort: Cohort, fold1: pd.DataFrame
) -> None:
    test_ids = fold1.loc[fold1["split"] == "test", "patient_id"]
    poisoned = {}
    for modality, block in cohort.features.items():
        bad = block.copy()
        bad.loc[test_ids] = 1e6 * (1 + block.loc[test_ids].abs())
        poisoned[modality] = bad
    clean, dirty = _fit("if_g_d", cohort, fold1), _fit("if_g_d", cohort, fold1, poisoned)
    assert clean.grid.outcomes == dirty.grid.outcomes and clean.grid.chosen == dirty.grid.chosen
    for name, value in clean.grid.state_dict.items():
        assert torch.equal(value, dirty.grid.state_dict[name]), name
    seen = clean.predictions["split"] != "test"
    pd.testing.assert_frame_equal(clean.predictions[seen], dirty.predictions[seen])
    assert not clean.predictions[~seen]["risk"].equals(dirty.predictions[~seen]["risk"])


def test_a_block_without_variation_gives_a_constant_prediction_that_is_flagged(
    cohort: Cohort, fold1: pd.DataFrame
) -> None:
    flat = cohort.features["pyradiomics"] * 0.0 + 3.0
    fitted = _fit("mlp_p", cohort, fold1, {**cohort.features, "pyradiomics": flat})
    assert constant_prediction(fitted.predictions)
    assert fitted.test_c_index == 0.5
    informative = _fit("mlp_p", cohort, fold1)
    assert not constant_prediction(informative.predictions)


def test_the_same_seed_gives_identical_predictions_and_metrics(
    cohort: Cohort, fold1: pd.DataFrame
) -> None:
    first, again = (_fit("lf_g_p", cohort, fold1, seed=4) for _ in range(2))
    pd.testing.assert_frame_equal(first.predictions, again.predictions)
    pd.testing.assert_frame_equal(
        evaluate_fitted(first, cohort.outcomes)[0], evaluate_fitted(again, cohort.outcomes)[0]
    )
    drop = lambda summary: {k: v for k, v in summary.items() if k not in TIMING}  # noqa: E731
    assert drop(first.summary()) == drop(again.summary())
