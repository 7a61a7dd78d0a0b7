"""The planted model: the simulated times obey it, and each modality carries part of it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sksurv.metrics import concordance_index_censored

from radiogenomics_assets.sources.demo import signal
from radiogenomics_assets.sources.demo.config import DemoConfig
from radiogenomics_assets.sources.demo.expression import write_expression_matrix
from radiogenomics_assets.sources.demo.plan import plan_cohort

N_LARGE = 4000
SCORES = ("log_hazard", "genomic_component", "imaging_component")


@pytest.fixture(scope="module")
def large() -> pd.DataFrame:
    return signal.simulate_signal(N_LARGE, seed=97)


def _harrell(frame: pd.DataFrame, score: str, *, uncensored: bool = False) -> float:
    if uncensored:
        events = np.ones(len(frame), dtype=bool)
        times = frame["event_time_days"].to_numpy(dtype=float)
    else:
        events = frame["event"].to_numpy(dtype=bool)
        times = frame["observed_days"].to_numpy(dtype=float)
    return float(concordance_index_censored(events, times, frame[score].to_numpy())[0])


def _pairwise_expectation(frame: pd.DataFrame, score: str, n_pairs: int = 400_000) -> float:
    """P(the patient with the higher score recurs first) under proportional hazards.

    For two patients with log-hazards a and b, the first to fail is the first with probability
    exp(a) / (exp(a) + exp(b)) whatever the baseline hazard, so this needs no event times.
    """
    generator = np.random.default_rng(5)
    i = generator.integers(0, len(frame), n_pairs)
    j = generator.integers(0, len(frame), n_pairs)
    eta = frame["log_hazard"].to_numpy()
    s = frame[score].to_numpy()
    keep = s[i] != s[j]
    i, j = i[keep], j[keep]
    high = np.where(s[i] > s[j], i, j)
    low = np.where(s[i] > s[j], j, i)
    return float(np.mean(1.0 / (1.0 + np.exp(eta[low] - eta[high]))))


@pytest.mark.parametrize("score", SCORES)
def test_true_recurrence_times_follow_proportional_hazards(large: pd.DataFrame, score: str) -> None:
    observed = _harrell(large, score, uncensored=True)
    expected = _pairwise_expectation(large, score)
    assert observed == pytest.approx(expected, abs=0.02)


def test_full_log_hazard_beats_each_modality(large: pd.DataFrame) -> None:
    full = _harrell(large, "log_hazard")
    genomic = _harrell(large, "genomic_component")
    imaging = _harrell(large, "imaging_component")
    # The brief's bands: each modality about 0.62-0.70, the full log-hazard about 0.78-0.82.
    assert 0.60 <= genomic <= 0.72
    assert 0.60 <= imaging <= 0.72
    assert 0.76 <= full <= 0.84
    assert full > max(genomic, imaging) + 0.05


def test_event_rate_and_follow_up(large: pd.DataFrame) -> None:
    assert 0.30 <= large["event"].mean() <= 0.40
    low, high = signal.FOLLOW_UP_RANGE_DAYS
    assert large["follow_up_days"].between(low, high).all()
    assert (large["censor_time_days"] <= large["follow_up_days"]).all()
    assert (large["observed_days"] <= large["follow_up_days"]).all()
    events = large["event"]
    assert (large.loc[events, "observed_days"] == large.loc[events, "event_time_days"]).all()
    assert (large.loc[~events, "event_time_days"] > large.loc[~events, "censor_time_days"]).all()


def test_latents_respect_their_definitions(large: pd.DataFrame) -> None:
    d = large["diameter_mm"]
    assert d.between(*signal.DIAMETER_RANGE_MM).all()
    assert large["heterogeneity_hu"].between(*signal.HETEROGENEITY_RANGE_HU).all()
    z_d = (np.log(d) - math.log(signal.DIAMETER_MEDIAN_MM)) / signal.DIAMETER_LOG_SD
    np.testing.assert_allclose(large["z_log_diameter"], z_d, atol=1e-9)
    z_h = (large["heterogeneity_hu"] - signal.HETEROGENEITY_MEAN_HU) / signal.HETEROGENEITY_SD_HU
    np.testing.assert_allclose(large["z_heterogeneity"], z_h, atol=1e-9)
    eta = (
        signal.BETA_GENOMIC * large["z_genomic"]
        + signal.BETA_DIAMETER * z_d
        + signal.BETA_HETEROGENEITY * z_h
        + large["eta_noise"]
    )
    np.testing.assert_allclose(large["log_hazard"], eta, atol=1e-9)


def test_outcomes_reject_non_finite_log_hazard() -> None:
    generators = [np.random.default_rng(0), np.random.default_rng(1)]
    with pytest.raises(ValueError, match=r"log_hazard\[1\] is nan"):
        signal.draw_outcomes(generators, np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match=r"one value per generator \(2\)"):
        signal.draw_outcomes(generators, np.zeros(3))


def test_simulated_signal_is_the_plans_and_grows_by_appending() -> None:
    simulated = signal.simulate_signal(30, seed=4)
    assert signal.simulate_signal(12, seed=4).equals(simulated.iloc[:12])
    plan = plan_cohort(DemoConfig(n_patients=30, seed=4, n_genes=120, amc_fraction=0.4))
    columns = [*signal.LATENT_COLUMNS, *signal.OUTCOME_COLUMNS]
    pd.testing.assert_frame_equal(plan[columns], simulated[columns])


def test_gaps_do_not_depend_on_the_log_hazard() -> None:
    plan = plan_cohort(DemoConfig(n_patients=1900, amc_fraction=0.5, n_genes=120))
    eta = plan["log_hazard"]
    for flag in ("has_rnaseq", "has_seg", "adjuvant"):
        inside, outside = eta[plan[flag]], eta[~plan[flag]]
        se = math.sqrt(inside.var() / len(inside) + outside.var() / len(outside))
        assert abs(inside.mean() - outside.mean()) < 4 * se, flag


def test_driver_genes_rank_high_and_track_the_genomic_score(tmp_path: Path) -> None:
    config = DemoConfig(n_patients=160, seed=5)
    plan = plan_cohort(config)
    path = tmp_path / "matrix.txt.gz"
    truth = write_expression_matrix(path, plan, config)
    matrix = pd.read_csv(path, sep="\t", index_col=0, na_values=["NA"], keep_default_na=False)
    # The paper's route: genes with > 80 % values, log10(x + 1), rank by variance.
    kept = matrix[matrix.notna().mean(axis=1) > 0.8]
    variance = np.log10(kept + 1.0).var(axis=1).sort_values(ascending=False)
    top = set(variance.index[:500])
    assert set(truth.driver_genes) <= top
    z = plan.set_index("patient_id").loc[matrix.columns, "z_genomic"]
    for gene, loading in zip(truth.driver_genes, truth.driver_loadings, strict=True):
        r = np.corrcoef(np.log(matrix.loc[gene]), z)[0, 1]
        assert np.sign(r) == np.sign(loading)
        assert abs(r) > 0.6, gene
