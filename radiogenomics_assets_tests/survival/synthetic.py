"""Small synthetic cohorts with a planted prognostic signal, for the survival tests.

The log-hazard is a weighted sum of a few informative columns in each block, plus a hidden
patient effect that no block sees. Times are Weibull, censoring is uniform, follow-up is in
whole days. Informative genes get a larger spread than noise genes so a top-variance selection
keeps them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from radiogenomics_assets.survival.registry import Modality, ModelSpec, get_spec

#: Seed of the fold assignment and splits shared by the survival tests.
SEED = 7


@dataclass(frozen=True)
class Cohort:
    outcomes: pd.DataFrame
    features: dict[Modality, pd.DataFrame]
    true_risk: pd.Series


def make_cohort(
    n_patients: int = 120,
    *,
    seed: int = 0,
    n_genes: int = 60,
    n_radiomic: int = 20,
    n_deep: int = 40,
    weights: tuple[float, float, float] = (1.0, 1.0, 1.0),
    n_informative: int = 3,
    hidden_sd: float = 0.3,
    prefix: str = "P",
) -> Cohort:
    """A cohort whose blocks carry signal in proportion to ``weights`` (G, P, D)."""
    rng = np.random.default_rng(seed)
    ids = [f"{prefix}{i:04d}" for i in range(n_patients)]
    genes = rng.normal(size=(n_patients, n_genes))
    genes[:, :n_informative] *= 2.0
    radiomic = rng.normal(size=(n_patients, n_radiomic)) * rng.uniform(0.5, 50, size=n_radiomic)
    deep = np.abs(rng.normal(size=(n_patients, n_deep)))
    blocks = (genes, radiomic, deep)
    log_hazard = hidden_sd * rng.normal(size=n_patients)
    for weight, block in zip(weights, blocks, strict=True):
        informative = block[:, :n_informative]
        standardised = (informative - informative.mean(axis=0)) / informative.std(axis=0)
        log_hazard += weight * standardised.mean(axis=1) * np.sqrt(n_informative)
    shape, scale = 1.5, 2500.0
    event_time = scale * (-np.log(rng.uniform(size=n_patients)) / np.exp(log_hazard)) ** (1 / shape)
    censor_time = rng.uniform(400.0, 3000.0, size=n_patients)
    days = np.ceil(np.minimum(event_time, censor_time)).astype(int)
    event = (event_time <= censor_time).astype(int)
    outcomes = pd.DataFrame({"patient_id": ids, "event": event, "days": np.maximum(days, 1)})
    index = pd.Index(ids, name="patient_id")
    features: dict[Modality, pd.DataFrame] = {
        "genomics": pd.DataFrame(genes, index=index, columns=[f"GENE{j}" for j in range(n_genes)]),
        "pyradiomics": pd.DataFrame(
            radiomic, index=index, columns=[f"original_feature_{j}" for j in range(n_radiomic)]
        ),
        "densenet": pd.DataFrame(deep, index=index, columns=[f"dn_{j}" for j in range(n_deep)]),
    }
    return Cohort(outcomes, features, pd.Series(log_hazard, index=index, name="true_risk"))


def planted_cohort(seed: int = 0) -> Cohort:
    """Signal in genomics and pyradiomics (equal weight), none in densenet."""
    return make_cohort(
        150,
        seed=seed,
        n_genes=30,
        n_radiomic=15,
        n_deep=20,
        weights=(1.5, 1.5, 0.0),
        n_informative=2,
    )


def with_hyperparameters(name: str, **changes: object) -> ModelSpec:
    """A registered spec with some hyperparameters replaced (e.g. fewer genes)."""
    spec = get_spec(name)
    return dataclasses.replace(spec, hyperparameters={**spec.hyperparameters, **changes})
