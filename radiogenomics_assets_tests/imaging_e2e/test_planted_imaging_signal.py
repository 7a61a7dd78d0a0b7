"""The demo's planted imaging signal survives the real path: DICOM → SEG → pyradiomics → Cox(P).

:mod:`radiogenomics_assets.sources.demo.signal` plants ``0.78 · z(log d) + 0.72 · z(h)`` into
each nodule's size and texture (Harrell's C 0.71 in the population). Here the shipped demo's
CT series and SEGs are read and decoded by :mod:`radiogenomics_assets.dicom`, the 107 features
come from pyradiomics through :mod:`radiogenomics_assets.features.radiomics`, the outcomes from
the clinical CSV through :mod:`radiogenomics_assets.cohort`, and the pyradiomics-only CoxNet is
cross-validated over the pipeline's five folds. Nothing of the generator's truth reaches a
model; the truth only gives the oracle the model is compared with.

"Clearly above chance" is measured against chance itself on the same folds: ``null_sd`` is the
standard deviation of the mean-over-folds test C of a score that knows nothing (the oracle's
values shuffled among each fold's test patients), and both the oracle and Cox(P) must clear
0.5 + 3 · ``null_sd``.

Cohort size: the whole default demo, 200 patients of whom 190 have a SEG and a known
recurrence (68 recurrences), where ``null_sd`` is about 0.04 and the bar about 0.62. Smaller
prefixes of the same population leave the learned model too close to a bar that rises as the
cohort shrinks: with its first 100 patients Cox(P) scores 0.71 against a bar of 0.67, with 150
0.67 against 0.64. Over five other seeds of the default config (11 to 15), 150 patients
fail two (0.60 and 0.62 against 0.64 and 0.66), while 200 pass all five (Cox(P) 0.64 to 0.71
against bars 0.62 to 0.64; the closest, seed 14, has an oracle of only 0.65). The default seed
clears the bar by 0.10. Generating the DICOM, extracting and fitting take two to three minutes
on two cores: a ``science`` check (`make check-science`), not part of CI.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiogenomics_assets.cohort.clinical import type_clinical_labels
from radiogenomics_assets.cohort.outcomes import compute_outcomes, usable_outcomes
from radiogenomics_assets.dicom.headers import inspect_dicom_file
from radiogenomics_assets.dicom.seg import decode_segmentation
from radiogenomics_assets.dicom.series import read_ct_series
from radiogenomics_assets.features.blocks import radiomics_block
from radiogenomics_assets.features.radiomics import extract_radiomic_features
from radiogenomics_assets.sources.clinical_csv import read_clinical_labels
from radiogenomics_assets.sources.demo import DEFAULT_CONFIG, DemoCohort, generate_demo_cohort
from radiogenomics_assets.sources.demo.source import DemoSource
from radiogenomics_assets.survival.fitting import fit_predict
from radiogenomics_assets.survival.metrics import harrell_c_index
from radiogenomics_assets.survival.registry import get_spec
from radiogenomics_assets.survival.splits import FOLD_NAMES, assign_test_folds, split_fold
from radiogenomics_assets.survival.targets import target_for, validate_outcomes

#: ModelingSettings' default seed: folds, validation draw and inner CV as the pipeline runs them.
SEED = 2020
#: Standard deviations of chance a mean C must clear: a score without information does so
#: with probability about 0.0013 (one-sided normal tail).
CHANCE_MARGIN_SDS = 3.0
#: Shuffles of the oracle per fold that estimate the chance spread (its SD to about 4 %).
N_SHUFFLES = 400


@dataclass(frozen=True)
class ImagingCohort:
    """The pyradiomics block, clinical outcomes and true imaging risk of the same patients.

    ``seconds``: what generating the DICOM and extracting the features took.
    """

    block: pd.DataFrame
    outcomes: pd.DataFrame
    true_imaging_risk: pd.Series
    seconds: float


def modality_paths(patient_folder: Path) -> dict[str, list[Path]]:
    paths: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(patient_folder.rglob("*.dcm")):
        paths[inspect_dicom_file(path).modality].append(path)
    return paths


def radiomic_rows(dicom_root: Path) -> pd.DataFrame:
    """One row of the 107 pyradiomics features per patient who has a CT and a SEG."""
    rows = []
    for folder in sorted(path for path in dicom_root.iterdir() if path.is_dir()):
        paths = modality_paths(folder)
        if "SEG" not in paths:
            continue
        patient_id = folder.name
        ct = read_ct_series(paths["CT"], patient_id=patient_id)
        (seg_path,) = paths["SEG"]
        nodule = decode_segmentation(seg_path, ct, patient_id=patient_id)
        features = extract_radiomic_features(
            ct.to_sitk(), ct.image_like(nodule.mask.astype(np.uint8)), patient_id=patient_id
        )
        rows.append({"patient_id": patient_id, **features})
    return pd.DataFrame(rows)


def clinical_outcomes(cohort: DemoCohort) -> pd.DataFrame:
    typed = type_clinical_labels(read_clinical_labels(cohort.clinical_csv).frame)
    usable = usable_outcomes(compute_outcomes(typed))
    return pd.DataFrame(
        {
            "patient_id": usable["patient_id"].astype(str).to_numpy(),
            "event": usable["event"].astype(int).to_numpy(),
            "days": usable["days"].astype(float).to_numpy(),
        }
    )


@pytest.fixture(scope="module")
def imaging_cohort(demo_cache: Path) -> ImagingCohort:
    started = time.perf_counter()
    cohort = generate_demo_cohort(
        demo_cache / DEFAULT_CONFIG.short_population_digest(), DEFAULT_CONFIG, workers=1
    )
    block = radiomics_block(radiomic_rows(cohort.dicom_root))
    outcomes = clinical_outcomes(cohort)
    outcomes = outcomes[outcomes["patient_id"].isin(block.index)].reset_index(drop=True)
    block = block.loc[sorted(outcomes["patient_id"])]
    truth = DemoSource(demo_cache, DEFAULT_CONFIG).ground_truth().set_index("patient_id")
    return ImagingCohort(block, outcomes, truth["imaging_component"], time.perf_counter() - started)


def cross_validated_c(
    cohort: ImagingCohort, outcomes: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, float]:
    """Per fold: Cox(P)'s test C and the oracle's; and the chance SD of a mean over folds."""
    assignment = assign_test_folds(outcomes[["patient_id", "event"]], seed=SEED)
    indexed = validate_outcomes(outcomes)
    generator = np.random.default_rng(SEED)
    model_c, oracle_c = [], []
    shuffled_c = np.zeros(N_SHUFFLES)
    for fold in FOLD_NAMES:
        splits = split_fold(assignment, fold, seed=SEED)
        fitted = fit_predict(
            get_spec("cox_p"), {"pyradiomics": cohort.block}, outcomes, splits, seed=SEED
        )
        model_c.append(fitted.test_c_index)
        test_ids = splits.loc[splits["split"] == "test", "patient_id"]
        target = target_for(indexed, test_ids)
        oracle = cohort.true_imaging_risk.loc[test_ids].to_numpy(dtype=float)
        oracle_c.append(harrell_c_index(target, oracle))
        shuffled_c += [
            harrell_c_index(target, generator.permutation(oracle)) for _ in range(N_SHUFFLES)
        ]
    return np.array(model_c), np.array(oracle_c), float(np.std(shuffled_c / len(FOLD_NAMES)))


@pytest.mark.science
def test_pyradiomics_coxnet_finds_the_planted_imaging_signal(
    imaging_cohort: ImagingCohort, capsys: pytest.CaptureFixture[str]
) -> None:
    outcomes = imaging_cohort.outcomes
    assert len(outcomes) >= 150 and outcomes["event"].sum() >= 50, "the demo cohort shrank"
    started = time.perf_counter()
    model_c, oracle_c, null_sd = cross_validated_c(imaging_cohort, outcomes)
    seconds = imaging_cohort.seconds + time.perf_counter() - started
    with capsys.disabled():
        print(
            f"\nCox(P) on {len(outcomes)} demo patients ({outcomes['event'].sum()} events): "
            f"mean test C {model_c.mean():.3f} (folds {np.round(model_c, 3).tolist()}), "
            f"oracle imaging C {oracle_c.mean():.3f}, chance SD {null_sd:.3f}, {seconds:.0f} s"
        )
    # With null_sd near 0.04 the bar is near 0.62: besides beating chance, the model must
    # recover over half of the 0.21 that the planted imaging risk scores above chance in the
    # population (signal.py: C 0.71), where pyradiomics' shape features track the diameter.
    threshold = 0.5 + CHANCE_MARGIN_SDS * null_sd
    # The cohort carries the planted signal: the true imaging risk ranks these patients well.
    assert oracle_c.mean() > threshold, (oracle_c, null_sd)
    # And the features of the decoded nodules carry enough of it for a CoxNet to learn.
    assert model_c.mean() > threshold, (model_c, null_sd)
    # Nothing leaks the outcome into the features or the folds: no model ranks the patients
    # clearly better than the risk that generated their outcomes.
    assert model_c.mean() < oracle_c.mean() + CHANCE_MARGIN_SDS * null_sd, (model_c, oracle_c)


@pytest.mark.science
def test_outcomes_shuffled_across_patients_leave_cox_p_at_chance(
    imaging_cohort: ImagingCohort, capsys: pytest.CaptureFixture[str]
) -> None:
    outcomes = imaging_cohort.outcomes
    order = np.random.default_rng(SEED).permutation(len(outcomes))
    shuffled = outcomes.assign(
        event=outcomes["event"].to_numpy()[order], days=outcomes["days"].to_numpy()[order]
    )
    model_c, _, null_sd = cross_validated_c(imaging_cohort, shuffled)
    with capsys.disabled():
        print(
            f"\nCox(P) with shuffled outcomes: mean test C {model_c.mean():.3f} "
            f"(folds {np.round(model_c, 3).tolist()}), chance SD {null_sd:.3f}"
        )
    # The same bar from the other side: the pipeline itself creates no signal.
    assert abs(model_c.mean() - 0.5) < CHANCE_MARGIN_SDS * null_sd, (model_c, null_sd)
