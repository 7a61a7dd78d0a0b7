"""The planted prognostic signal of the demo cohort: latent variables, log-hazard, event times.

Every patient gets three independent latent variables:

* ``z_genomic`` ~ N(0, 1): a genomic score. It is written into the RNA-seq matrix through
  ``DemoConfig.n_driver_genes`` (default 24) driver genes: log FPKM of driver *j* =
  baseline_j + s_j · :data:`DRIVER_LOADING` · z_genomic + N(0, :data:`DRIVER_NOISE_SD`²),
  with baseline_j uniform in [log 20, log 80] and signs s_j = +1, -1, +1, +1, -1, +1, ...
  Background genes have log-SDs around 0.45, so the drivers (log-SD ≈ 1.1, high mean) rank among
  the most variant genes on the raw, log and log10(x+1) scales.
* nodule diameter ``d`` (mm): log-normal with median 18 mm and log-SD 0.4, truncated to
  [8, 45] mm; ``z(log d) = (log d − log 18) / 0.4``. The phantom draws a lobulated ellipsoid of
  that equivalent diameter.
* nodule heterogeneity ``h`` (HU): normal with mean 70 and SD 28, truncated to [20, 150];
  ``z(h) = (h − 70) / 28``. It is the SD of the spatially correlated texture inside the nodule
  (the CT noise of 12 HU comes on top).

A fourth latent, the nodule's mean density (normal, mean 30 HU, SD 15, truncated to [-10, 70]),
is a nuisance: it changes the image but not the hazard.

Log-hazard::

    η = 0.95 · z_genomic + 0.78 · z(log d) + 0.72 · z(h) + ε,   ε ~ N(0, 0.1²)

The genomic component is ``0.95 · z_genomic``; the imaging component is
``0.78 · z(log d) + 0.72 · z(h)``. Recurrence time from the CT date is Weibull with shape 1.4 and
a baseline (η = 0) median of 3000 days: T = scale · (−log U / exp(η))^(1/1.4). A baseline median
near 1000 days would give about 65 % events under the follow-up below; 3000 days gives the
intended 30-40 % events and a median observed time near 1170 days (the real cohort: 1070).
Follow-up ends uniformly in [300, 3500] days after the CT; death from other causes (Weibull,
shape 1.5, scale 8000 days, independent of η) also ends follow-up without recurrence. The
observed time is min(T, end of follow-up), the event is T ≤ end of follow-up, all in whole days.
After a recurrence, survival is exponential with a median of 700 days (it feeds the clinical
death columns, never the recurrence outcome).

On 20,000 simulated patients (``simulate_signal(20000, 2119)``; other seeds move each figure by
about 0.01) Harrell's C-index of η is 0.80, of the genomic component 0.70, of the imaging
component 0.71 (of z(log d) alone 0.65, of z(h) alone 0.64), with 36 % events.
Nothing about the gaps of the cohort (missing RNA-seq or SEG, adjuvant therapy) depends on
these latents.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from radiogenomics_assets.sources.demo.randomness import patient_rng

BETA_GENOMIC = 0.95
BETA_DIAMETER = 0.78
BETA_HETEROGENEITY = 0.72
NOISE_SD = 0.1

DIAMETER_MEDIAN_MM = 18.0
DIAMETER_LOG_SD = 0.4
DIAMETER_RANGE_MM = (8.0, 45.0)
HETEROGENEITY_MEAN_HU = 70.0
HETEROGENEITY_SD_HU = 28.0
HETEROGENEITY_RANGE_HU = (20.0, 150.0)
DENSITY_MEAN_HU = 30.0
DENSITY_SD_HU = 15.0
DENSITY_RANGE_HU = (-10.0, 70.0)

WEIBULL_SHAPE = 1.4
BASELINE_MEDIAN_DAYS = 3000.0
FOLLOW_UP_RANGE_DAYS = (300, 3500)
OTHER_DEATH_SHAPE = 1.5
OTHER_DEATH_SCALE_DAYS = 8000.0
POST_RECURRENCE_MEDIAN_DAYS = 700.0

DRIVER_LOADING = 1.0
DRIVER_NOISE_SD = 0.45
DRIVER_BASELINE_FPKM = (20.0, 80.0)
_DRIVER_SIGNS = (1, -1, 1, 1, -1, 1)

LATENT_COLUMNS = (
    "z_genomic",
    "diameter_mm",
    "z_log_diameter",
    "heterogeneity_hu",
    "z_heterogeneity",
    "mean_density_hu",
    "eta_noise",
    "genomic_component",
    "imaging_component",
    "log_hazard",
)
OUTCOME_COLUMNS = (
    "event_time_days",
    "follow_up_days",
    "other_death_days",
    "censor_time_days",
    "event",
    "observed_days",
    "post_recurrence_survival_days",
)


def truncated_standard_normal(u: np.ndarray, low: float, high: float) -> np.ndarray:
    """Standard normal values restricted to ``[low, high]``: the CDF inverted at uniforms ``u``."""
    a, b = ndtr(low), ndtr(high)
    return ndtri(a + (b - a) * np.asarray(u, dtype=float))


def _latent_variates(generator: np.random.Generator) -> list[float]:
    # One patient's stream: z_genomic, three uniforms for the truncated normals, the noise.
    return [generator.standard_normal(), *generator.random(3), generator.standard_normal()]


def draw_latents(generators: Sequence[np.random.Generator]) -> pd.DataFrame:
    """The latent variables and log-hazard of one patient per generator (LATENT_COLUMNS).

    Each patient draws from its own stream, so a patient's latents never depend on how many
    other patients are drawn.
    """
    variates = np.array([_latent_variates(g) for g in generators], dtype=float).reshape(-1, 5)
    z_genomic, u_diameter, u_heterogeneity, u_density, z_noise = variates.T
    log_median = math.log(DIAMETER_MEDIAN_MM)
    z_log_d = truncated_standard_normal(
        u_diameter,
        (math.log(DIAMETER_RANGE_MM[0]) - log_median) / DIAMETER_LOG_SD,
        (math.log(DIAMETER_RANGE_MM[1]) - log_median) / DIAMETER_LOG_SD,
    )
    z_h = truncated_standard_normal(
        u_heterogeneity,
        (HETEROGENEITY_RANGE_HU[0] - HETEROGENEITY_MEAN_HU) / HETEROGENEITY_SD_HU,
        (HETEROGENEITY_RANGE_HU[1] - HETEROGENEITY_MEAN_HU) / HETEROGENEITY_SD_HU,
    )
    z_density = truncated_standard_normal(
        u_density,
        (DENSITY_RANGE_HU[0] - DENSITY_MEAN_HU) / DENSITY_SD_HU,
        (DENSITY_RANGE_HU[1] - DENSITY_MEAN_HU) / DENSITY_SD_HU,
    )
    noise = NOISE_SD * z_noise
    genomic = BETA_GENOMIC * z_genomic
    imaging = BETA_DIAMETER * z_log_d + BETA_HETEROGENEITY * z_h
    return pd.DataFrame(
        {
            "z_genomic": z_genomic,
            "diameter_mm": np.exp(log_median + DIAMETER_LOG_SD * z_log_d),
            "z_log_diameter": z_log_d,
            "heterogeneity_hu": HETEROGENEITY_MEAN_HU + HETEROGENEITY_SD_HU * z_h,
            "z_heterogeneity": z_h,
            "mean_density_hu": DENSITY_MEAN_HU + DENSITY_SD_HU * z_density,
            "eta_noise": noise,
            "genomic_component": genomic,
            "imaging_component": imaging,
            "log_hazard": genomic + imaging + noise,
        },
        columns=list(LATENT_COLUMNS),
    )


def weibull_scale(median_days: float, shape: float) -> float:
    """Scale of a Weibull with the given median and shape."""
    return median_days / math.log(2.0) ** (1.0 / shape)


def _outcome_variates(generator: np.random.Generator) -> list[float]:
    # One patient's stream: recurrence, follow-up end, other-cause death, post-recurrence time.
    return [
        generator.standard_exponential(),
        float(generator.integers(FOLLOW_UP_RANGE_DAYS[0], FOLLOW_UP_RANGE_DAYS[1] + 1)),
        generator.standard_exponential(),
        generator.standard_exponential(),
    ]


def draw_outcomes(
    generators: Sequence[np.random.Generator], log_hazard: np.ndarray
) -> pd.DataFrame:
    """Recurrence times from the CT date, follow-up and other-cause death, in whole days.

    Patient *i* draws from ``generators[i]`` and has log-hazard ``log_hazard[i]``.

    Raises:
        ValueError: ``log_hazard`` holds a non-finite value (its position named), or its length
            differs from the number of generators.
    """
    eta = np.asarray(log_hazard, dtype=float)
    if not np.all(np.isfinite(eta)):
        position = int(np.flatnonzero(~np.isfinite(eta))[0])
        raise ValueError(f"log_hazard[{position}] is {float(eta[position])}; it must be finite")
    if eta.shape != (len(generators),):
        raise ValueError(
            f"log_hazard has shape {eta.shape}, expected one value per generator "
            f"({len(generators)})"
        )
    variates = np.array([_outcome_variates(g) for g in generators], dtype=float).reshape(-1, 4)
    e_recurrence, follow_up, e_death, e_after = variates.T
    scale = weibull_scale(BASELINE_MEDIAN_DAYS, WEIBULL_SHAPE)
    recurrence = scale * (e_recurrence / np.exp(eta)) ** (1.0 / WEIBULL_SHAPE)
    recurrence_days = np.maximum(1, np.ceil(recurrence)).astype(np.int64)
    other_death = OTHER_DEATH_SCALE_DAYS * e_death ** (1.0 / OTHER_DEATH_SHAPE)
    other_death_days = np.maximum(1, np.ceil(other_death)).astype(np.int64)
    after_days = np.maximum(
        1, np.ceil(POST_RECURRENCE_MEDIAN_DAYS / math.log(2.0) * e_after)
    ).astype(np.int64)
    follow_up_days = follow_up.astype(np.int64)
    censor = np.minimum(follow_up_days, other_death_days)
    event = recurrence_days <= censor
    return pd.DataFrame(
        {
            "event_time_days": recurrence_days,
            "follow_up_days": follow_up_days,
            "other_death_days": other_death_days,
            "censor_time_days": censor.astype(np.int64),
            "event": event,
            "observed_days": np.where(event, recurrence_days, censor).astype(np.int64),
            "post_recurrence_survival_days": after_days,
        },
        columns=list(OUTCOME_COLUMNS),
    )


def simulate_signal(n: int, seed: int) -> pd.DataFrame:
    """Latents and outcomes of patients 1..n from the same streams the cohort generator uses.

    The rows equal the latents and outcomes of a generated cohort of ``n`` patients with this
    seed (in arrival order, whatever the other fields of its config), so large samples of the
    planted model cost no imaging.

    Raises:
        ValueError: ``n`` is not a positive integer.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    return draw_signal(seed, range(1, n + 1))


def draw_signal(seed: int, arrivals: Sequence[int]) -> pd.DataFrame:
    """Latents and outcomes of the patients with these arrival numbers, from their own streams."""
    latents = draw_latents([patient_rng(seed, i, "latents") for i in arrivals])
    outcomes = draw_outcomes(
        [patient_rng(seed, i, "outcomes") for i in arrivals], latents["log_hazard"].to_numpy()
    )
    return pd.concat([latents, outcomes], axis=1)


def driver_loadings(n_drivers: int) -> np.ndarray:
    """Signed loadings of the driver genes on ``z_genomic``."""
    signs = np.array([_DRIVER_SIGNS[i % len(_DRIVER_SIGNS)] for i in range(n_drivers)])
    return DRIVER_LOADING * signs.astype(float)


def describe_signal() -> dict[str, Any]:
    """The model's constants, as written to ``signal.json``."""
    return {
        "log_hazard": "beta_genomic*z_genomic + beta_diameter*z_log_diameter "
        "+ beta_heterogeneity*z_heterogeneity + eta_noise",
        "beta_genomic": BETA_GENOMIC,
        "beta_diameter": BETA_DIAMETER,
        "beta_heterogeneity": BETA_HETEROGENEITY,
        "eta_noise_sd": NOISE_SD,
        "z_genomic": "N(0, 1)",
        "diameter_mm": {
            "distribution": "log-normal, truncated",
            "median": DIAMETER_MEDIAN_MM,
            "log_sd": DIAMETER_LOG_SD,
            "range": list(DIAMETER_RANGE_MM),
            "z": "(log(d) - log(median)) / log_sd",
        },
        "heterogeneity_hu": {
            "distribution": "normal, truncated",
            "mean": HETEROGENEITY_MEAN_HU,
            "sd": HETEROGENEITY_SD_HU,
            "range": list(HETEROGENEITY_RANGE_HU),
            "z": "(h - mean) / sd",
        },
        "mean_density_hu": {
            "distribution": "normal, truncated (not prognostic)",
            "mean": DENSITY_MEAN_HU,
            "sd": DENSITY_SD_HU,
            "range": list(DENSITY_RANGE_HU),
        },
        "recurrence_time": {
            "origin": "CT date",
            "distribution": "Weibull proportional hazards",
            "shape": WEIBULL_SHAPE,
            "baseline_median_days": BASELINE_MEDIAN_DAYS,
            "scale_days": weibull_scale(BASELINE_MEDIAN_DAYS, WEIBULL_SHAPE),
        },
        "follow_up_days": {"distribution": "uniform integer", "range": list(FOLLOW_UP_RANGE_DAYS)},
        "other_cause_death": {
            "distribution": "Weibull, independent of the log-hazard",
            "shape": OTHER_DEATH_SHAPE,
            "scale_days": OTHER_DEATH_SCALE_DAYS,
        },
        "post_recurrence_survival_median_days": POST_RECURRENCE_MEDIAN_DAYS,
        "driver_genes": {
            "model": "log(FPKM) = baseline + loading * z_genomic + N(0, noise_sd^2)",
            "loading_magnitude": DRIVER_LOADING,
            "noise_sd": DRIVER_NOISE_SD,
            "baseline_fpkm_range": list(DRIVER_BASELINE_FPKM),
        },
    }
