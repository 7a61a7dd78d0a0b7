"""The default cohort end to end: the 200 patients `make demo` generates hold the counts and the
signal DemoConfig promises (half a minute or more to generate: a ``science`` check, run by
`make check-science` beside the planted imaging signal, which reads the same generated cohort)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sksurv.metrics import concordance_index_censored

from radiogenomics_assets.sources.demo import (
    DEFAULT_CONFIG,
    DemoSource,
    consort_counts,
    verify_demo_cohort,
)
from radiogenomics_assets.sources.demo.config import count_of

pytestmark = pytest.mark.science


@pytest.fixture(scope="module")
def default_source(demo_cache: Path) -> DemoSource:
    source = DemoSource(demo_cache)
    source.cohort()
    return source


def test_default_cohort_counts(default_source: DemoSource) -> None:
    config = DEFAULT_CONFIG
    truth = default_source.ground_truth()
    counts = consort_counts(truth)
    n_r01 = config.n_patients - config.n_amc
    assert counts["total"] == config.n_patients
    assert (truth["site"] == "AMC").sum() == count_of(config.amc_fraction, config.n_patients)

    # The gaps are per-patient draws: each count lies within 3 binomial sd of its expectation.
    def near(count: int, total: int, p: float) -> bool:
        return abs(count - total * p) <= 3 * (total * p * (1 - p)) ** 0.5

    assert near(counts["with_rnaseq"], n_r01, 1 - config.r01_without_rnaseq_fraction)
    assert near(counts["with_seg"], config.n_patients, 1 - config.without_seg_fraction)
    assert near(int(truth["adjuvant"].sum()), config.n_patients, config.adjuvant_fraction)
    assert counts["with_rnaseq_and_seg"] - counts["recurrence_known"] == 1
    # DemoConfig's contract: close to the paper's 107 after the filter.
    assert 100 <= counts["no_adjuvant"] <= 120
    # signal.py's population event rate is 35 %; a realized cohort lies within 3 binomial sd.
    sd = (0.35 * 0.65 / len(truth)) ** 0.5
    assert abs(truth["event"].mean() - 0.35) <= 3 * sd
    verify_demo_cohort(default_source.cohort())


def test_default_cohort_manifest_and_signal(default_source: DemoSource) -> None:
    truth = default_source.ground_truth()
    manifest = default_source.imaging_manifest(lambda _m: None).frame
    assert len(manifest) == 2 * int(truth["has_seg"].sum())
    study = truth[truth["in_study_cohort"]]

    def c_index(score: pd.Series) -> float:
        return float(
            concordance_index_censored(
                study["event"].to_numpy(), study["observed_days"].to_numpy(float), score
            )[0]
        )

    full = c_index(study["log_hazard"])
    assert full > c_index(study["genomic_component"])
    assert full > c_index(study["imaging_component"])


def test_default_cohort_size_on_disk(default_source: DemoSource) -> None:
    root = default_source.cohort().root
    size = sum(p.stat().st_size for p in Path(root).rglob("*") if p.is_file())
    per_patient = size / int(default_source.ground_truth()["has_seg"].sum())
    assert 2.0e6 <= per_patient <= 3.5e6
