"""Late fusion reuses the single-modality CoxNet fits only when they are provably the same fit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiogenomics_assets.survival.design import ModelData, prepare_model_data
from radiogenomics_assets.survival.fingerprint import fit_fingerprint
from radiogenomics_assets.survival.fusion import (
    FittedCoxnet,
    fit_coxnet,
    load_model,
    reusable_fits,
    save_model,
)
from radiogenomics_assets.survival.model_file import MODEL_FILE_SUFFIX
from radiogenomics_assets.survival.registry import (
    COXNET_HYPERPARAMETERS,
    MODEL_REGISTRY,
    ModelSpec,
    get_spec,
    late_fusion_members,
)
from radiogenomics_assets_tests.survival.synthetic import Cohort, with_hyperparameters

SEED = 3


def _data(spec: ModelSpec, cohort: Cohort, splits: pd.DataFrame, **features) -> ModelData:
    return prepare_model_data(
        spec.modalities, {**cohort.features, **features}, cohort.outcomes, splits
    )


def _fit(name: str, data: ModelData, **kwargs) -> FittedCoxnet:
    return fit_coxnet(get_spec(name), data, alpha_selection="inner_cv", seed=SEED, **kwargs)


def _assert_same_result(reused: FittedCoxnet, refitted: FittedCoxnet) -> None:
    # Bit for bit: reuse must never change a number.
    pd.testing.assert_frame_equal(reused.predictions, refitted.predictions, check_exact=True)
    assert [b.choice.alpha for b in reused.blocks] == [b.choice.alpha for b in refitted.blocks]
    assert [b.choice.alpha_index for b in reused.blocks] == [
        b.choice.alpha_index for b in refitted.blocks
    ]
    for a, b in zip(reused.blocks, refitted.blocks, strict=True):
        pd.testing.assert_frame_equal(a.choice.curve, b.choice.curve, check_exact=True)
        assert a.fingerprint == b.fingerprint
    assert reused.c_index == refitted.c_index
    np.testing.assert_array_equal(reused.estimator.means, refitted.estimator.means)
    np.testing.assert_array_equal(reused.estimator.sds, refitted.estimator.sds)


@pytest.fixture(scope="module")
def singles(cohort: Cohort, fold1: pd.DataFrame) -> dict[str, FittedCoxnet]:
    return {name: _fit(name, _data(get_spec(name), cohort, fold1)) for name in ("cox_g", "cox_p")}


def test_late_fusion_reusing_the_single_fits_is_bit_for_bit_a_refit(
    cohort: Cohort, fold1: pd.DataFrame, singles: dict[str, FittedCoxnet], tmp_path: Path
) -> None:
    data = _data(get_spec("cox_lf_g_p"), cohort, fold1)
    refitted = _fit("cox_lf_g_p", data)
    offered = {**singles["cox_g"].reusable_fits(), **singles["cox_p"].reusable_fits()}
    reused = _fit("cox_lf_g_p", data, reuse=offered)
    _assert_same_result(reused, refitted)
    assert reused.reused_fits == ("cox_g", "cox_p") and refitted.reused_fits == ()
    assert reused.summary()["reused_fits"] == "cox_g, cox_p"
    assert reused.summary()["refitted_blocks"] == "none"
    assert refitted.summary()["refitted_blocks"] == "genomics, pyradiomics"
    assert [m for m in reused.estimator.members] == [
        offered["genomics"].model,
        offered["pyradiomics"].model,
    ]

    # Through the model files, as the Dagster layer does.
    from_files = {}
    for name in ("cox_g", "cox_p"):
        save_model(singles[name], tmp_path / f"{name}{MODEL_FILE_SUFFIX}")
        fits, reason = reusable_fits(load_model(tmp_path / f"{name}{MODEL_FILE_SUFFIX}"))
        assert reason is None
        from_files.update(fits)
    assert from_files["genomics"].source == "cox_g"
    _assert_same_result(_fit("cox_lf_g_p", data, reuse=from_files), refitted)


def test_a_fit_on_other_rows_is_refitted_and_the_note_says_why(
    cohort: Cohort, fold1: pd.DataFrame, singles: dict[str, FittedCoxnet]
) -> None:
    train = fold1.loc[fold1["split"] == "train", "patient_id"].tolist()
    densenet = cohort.features["densenet"].drop(index=train[:2])
    spec = get_spec("cox_lf_g_d")
    data = _data(spec, cohort, fold1, densenet=densenet)
    reused = _fit("cox_lf_g_d", data, reuse=singles["cox_g"].reusable_fits())
    assert reused.reused_fits == ()
    n_single = singles["cox_g"].blocks[0].fingerprint.n_rows
    assert any(
        f"cox_g was fitted on {n_single} rows, cox_lf_g_d's genomics on {n_single - 2}" in note
        for note in reused.notes
    )
    _assert_same_result(reused, _fit("cox_lf_g_d", data))


def test_other_settings_or_values_are_refitted(
    cohort: Cohort, fold1: pd.DataFrame, singles: dict[str, FittedCoxnet]
) -> None:
    offered = singles["cox_g"].reusable_fits()
    data = _data(get_spec("cox_lf_g_p"), cohort, fold1)
    other_seed = fit_coxnet(
        get_spec("cox_lf_g_p"), data, alpha_selection="inner_cv", seed=SEED + 1, reuse=offered
    )
    assert other_seed.reused_fits == ()
    assert any("settings differ" in note for note in other_seed.notes)

    genes = cohort.features["genomics"].copy()
    patient = fold1.loc[fold1["split"] == "validation", "patient_id"].iloc[0]
    genes.loc[patient, genes.columns[0]] += 1.0
    changed = _fit(
        "cox_lf_g_p", _data(get_spec("cox_lf_g_p"), cohort, fold1, genomics=genes), reuse=offered
    )
    assert changed.reused_fits == ()
    assert any("feature values or outcomes" in note for note in changed.notes)


def test_the_fingerprint_covers_what_the_fit_reads_and_nothing_else(
    cohort: Cohort, fold1: pd.DataFrame
) -> None:
    spec = get_spec("cox_g")

    def fingerprint(genes=None, splits=fold1, selection="inner_cv", seed=SEED, **hyper):
        features = {} if genes is None else {"genomics": genes}
        data = _data(spec, cohort, splits, **features)
        hyperparameters = {**spec.hyperparameters, **hyper}
        return fit_fingerprint(
            ("genomics",), data, hyperparameters, alpha_selection=selection, seed=seed
        )

    base = fingerprint()
    assert fingerprint() == base
    assert fingerprint(late_fusion="sum_risk") == base
    assert fingerprint(n_genes=10).settings != base.settings
    assert fingerprint(inner_cv_folds=4).settings != base.settings
    assert fingerprint(seed=SEED + 1).digest != base.digest
    assert fingerprint(selection="validation").settings != base.settings

    genes = cohort.features["genomics"]
    test_patient = fold1.loc[fold1["split"] == "test", "patient_id"].iloc[0]
    train_patient = fold1.loc[fold1["split"] == "train", "patient_id"].iloc[0]
    test_changed = genes.copy()
    test_changed.loc[test_patient] += 1.0
    assert fingerprint(test_changed) == base  # test rows are never read by the fit
    train_changed = genes.copy()
    train_changed.iloc[genes.index.get_loc(train_patient), 5] = np.nextafter(
        train_changed.iloc[genes.index.get_loc(train_patient), 5], np.inf
    )
    assert fingerprint(train_changed).values != base.values
    renamed = genes.rename(columns={genes.columns[0]: "OTHER"})
    assert fingerprint(renamed).values != base.values

    # Moving a patient from train to validation changes the rows an inner-CV fit's splits name.
    validation = fold1.loc[fold1["split"] == "validation", "patient_id"].iloc[0]
    moved = fold1.assign(split=np.where(fold1["patient_id"] == validation, "train", fold1["split"]))
    assert fingerprint(splits=moved).rows != base.rows
    # For the paper's selection (train only) the validation rows are not read at all.
    paper = fingerprint(selection="paper")
    assert paper.n_rows == (fold1["split"] == "train").sum()


def test_late_fusion_members_come_from_the_registry() -> None:
    assert {m: s.name for m, s in late_fusion_members(get_spec("cox_lf_g_p_d")).items()} == {
        "genomics": "cox_g",
        "pyradiomics": "cox_p",
        "densenet": "cox_d",
    }
    assert late_fusion_members(get_spec("cox_ef_g_p")) == {}
    assert late_fusion_members(get_spec("lf_g_p")) == {}
    summed = with_hyperparameters("cox_lf_g_p", late_fusion="sum_risk")
    assert set(late_fusion_members(summed)) == {"genomics", "pyradiomics"}
    fewer_genes = with_hyperparameters("cox_lf_g_p", n_genes=100)
    assert late_fusion_members(fewer_genes) == {}
    assert dict(COXNET_HYPERPARAMETERS)["late_fusion"]
    assert all(s in MODEL_REGISTRY for s in late_fusion_members(get_spec("cox_lf_g_d")).values())


def test_a_model_file_without_fingerprints_offers_nothing(
    singles: dict[str, FittedCoxnet], tmp_path: Path
) -> None:
    path = tmp_path / f"old{MODEL_FILE_SUFFIX}"
    save_model(singles["cox_g"], path)
    payload = load_model(path)
    del payload["fits"]
    fits, reason = reusable_fits(payload)
    assert fits == {} and "before fit fingerprints" in reason
