"""The cohort plan: one row per patient with every fact the writers need and the truth behind it.

The plan is drawn first and completely (ids, latents, outcomes, gaps, clinical attributes,
dates); the CSV, matrix, DICOM and ground-truth writers only format it. Patients arrive in a
fixed order (``arrival`` 1, 2, ...) and the plan of ``n`` patients is the first ``n`` rows of any
larger plan of the same population: patient *i* draws only from its own streams
(:func:`~.randomness.patient_rng`) or follows rules that depend on *i* alone.

* Site: patient *i* is AMC iff ``count_of(amc_fraction, i) > count_of(amc_fraction, i - 1)``, so
  after every prefix the AMC count is exactly ``count_of(amc_fraction, i)``. Ids count per site
  in arrival order (``R01-001``, ``R01-002``, ``AMC-001``, ...).
* Gaps are independent Bernoulli draws from the patient's ``gaps`` stream: no RNA-seq (R01 only,
  ``r01_without_rnaseq_fraction``), no CT/SEG (``without_seg_fraction``), a second (lung)
  segment in the SEG (``second_segment_fraction``), adjuvant therapy with probability
  ``adjuvant_fraction · w / E[w]`` (``w`` the N-stage weight, ``E[w]`` its population mean,
  clipped to 1), radiation for a third of the adjuvant patients.
* Unknown recurrence status (``recurrence_not_collected = 1``): the *j*-th patient (from 0) with
  RNA-seq and a SEG in arrival order, *j* drawn once from the seed in [0, 10). A cohort with
  fewer than *j* + 1 such patients has none yet; falling back to its last one would change that
  patient when the cohort grows.

Each part draws from its own named stream, so the gaps never see the latents: which patients
lack RNA-seq, a SEG or a recurrence status, or get adjuvant therapy, is independent of the
planted log-hazard (adjuvant therapy depends mildly on N stage, which is itself independent of
the latents).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd

from radiogenomics_assets.sources.demo.config import DemoConfig, count_of
from radiogenomics_assets.sources.demo.randomness import patient_rng, rng
from radiogenomics_assets.sources.demo.signal import draw_signal

#: Lobes as in the clinical CSV's "Tumor Location (choice=...)" columns, with their frequencies.
LOBES = ("RUL", "RML", "RLL", "LUL", "LLL", "L Lingula")
_LOBE_P = (0.37, 0.09, 0.14, 0.22, 0.16, 0.02)
#: Side (+1 = patient's left, DICOM +x) and height in the lung (0 = lowest, 1 = highest).
LOBE_SIDE = {"RUL": -1, "RML": -1, "RLL": -1, "LUL": 1, "LLL": 1, "L Lingula": 1}
LOBE_HEIGHT = {"RUL": 0.85, "RML": 0.5, "RLL": 0.15, "LUL": 0.8, "LLL": 0.15, "L Lingula": 0.45}

N_STAGES = ("N0", "N1", "N2")
_N_STAGE_P = (0.78, 0.1, 0.12)
#: Relative chance of adjuvant therapy by N stage (AMC patients have no recorded stage).
_ADJUVANT_WEIGHT = {"N0": 1.0, "N1": 3.0, "N2": 4.0, "Not Collected": 1.0}
_RADIATION_SHARE = 0.33

FIRST_CT_DATE = dt.date(1989, 1, 1)
LAST_CT_DATE = dt.date(1996, 12, 31)
SURGERY_GAP_MEDIAN_DAYS = 30.0


#: How many complete patients (RNA-seq and SEG) may precede the unknown recurrence status.
_RECURRENCE_POSITIONS = 10

#: Uniforms of each patient's ``clinical`` stream, in draw order.
_CLINICAL_UNIFORMS = (
    "lobe",
    "n_stage",
    "t_in_situ",
    "t_upstage",
    "m_stage",
    "sex",
    "affiliation",
    "ct_day",
    "ct_hour",
    "ct_minute",
    "ct_second",
    "pet_offset",
    "recurrence_location",
    "weight_missing",
    "weight_format",
    "ethnicity",
    "smoking",
    "pack_years_missing",
    "years_since_quit",
    "ground_glass",
    "histology",
    "grade",
    "lymphovascular",
    "pleural",
    "egfr",
    "kras",
    "alk",
)
#: Standard normals of each patient's ``clinical`` stream, drawn after the uniforms.
_CLINICAL_NORMALS = ("age", "surgery_gap", "weight", "pack_years")
#: Uniforms of each patient's ``gaps`` stream, in draw order.
_GAP_UNIFORMS = ("rnaseq", "seg", "second_segment", "adjuvant", "radiation")


def arrival_sites(config: DemoConfig, n: int | None = None) -> list[str]:
    """Site of patients 1..n (default ``config.n_patients``): AMC exactly as often as the
    config's fraction after every prefix, spread evenly through the arrival order."""
    total = config.n_patients if n is None else n
    f = config.amc_fraction
    return ["AMC" if count_of(f, i) > count_of(f, i - 1) else "R01" for i in range(1, total + 1)]


def patient_ids(config: DemoConfig) -> tuple[list[str], list[str]]:
    """Ids in the real scheme, numbered per site in arrival order, and each one's site."""
    counters = {"AMC": 0, "R01": 0}
    ids = []
    sites = arrival_sites(config)
    for site in sites:
        counters[site] += 1
        ids.append(f"{site}-{counters[site]:03d}")
    return ids, sites


def _variates(
    config: DemoConfig, arrivals: np.ndarray, part: str, n_uniform: int, n_normal: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    uniforms = np.empty((arrivals.size, n_uniform))
    normals = np.empty((arrivals.size, n_normal))
    for row, arrival in enumerate(arrivals):
        generator = patient_rng(config.seed, int(arrival), part)
        uniforms[row] = generator.random(n_uniform)
        normals[row] = generator.standard_normal(n_normal)
    return uniforms, normals


def _categorical(u: np.ndarray, values: Sequence[str], p: Sequence[float]) -> np.ndarray:
    """``values[k]`` where ``u`` falls in the k-th interval of the cumulative ``p``."""
    cumulative = np.cumsum(p) / np.sum(p)
    index = np.minimum(np.searchsorted(cumulative, u, side="right"), len(values) - 1)
    return np.asarray(values, dtype=object)[index]


def _integers(u: np.ndarray, low: int, high: int) -> np.ndarray:
    """Integers uniform in [low, high] from uniforms in [0, 1)."""
    return np.minimum(low + np.floor(u * (high - low + 1)).astype(np.int64), high)


def mean_adjuvant_weight(config: DemoConfig) -> float:
    """E[w] of the N-stage weight over the population (AMC patients have no recorded stage)."""
    r01 = sum(_ADJUVANT_WEIGHT[s] * p for s, p in zip(N_STAGES, _N_STAGE_P, strict=True))
    f = config.amc_fraction
    return f * _ADJUVANT_WEIGHT["Not Collected"] + (1.0 - f) * r01


def _assign_gaps(config: DemoConfig, frame: pd.DataFrame) -> None:
    u, _ = _variates(config, frame["arrival"].to_numpy(), "gaps", len(_GAP_UNIFORMS))
    draw = dict(zip(_GAP_UNIFORMS, u.T, strict=True))
    is_r01 = (frame["site"] == "R01").to_numpy()
    has_rnaseq = is_r01 & (draw["rnaseq"] >= config.r01_without_rnaseq_fraction)
    has_seg = draw["seg"] >= config.without_seg_fraction
    second = has_seg & (draw["second_segment"] < config.second_segment_fraction)

    # The one unknown recurrence status sits where the study filter has to catch it.
    recurrence_collected = np.ones(len(frame), dtype=bool)
    if config.recurrence_not_collected:
        position = int(rng(config.seed, "gaps", "recurrence").integers(_RECURRENCE_POSITIONS))
        complete = np.flatnonzero(has_rnaseq & has_seg)
        if position < complete.size:
            recurrence_collected[complete[position]] = False

    weights = frame["n_stage"].map(_ADJUVANT_WEIGHT).to_numpy(dtype=float)
    chance = np.minimum(1.0, config.adjuvant_fraction * weights / mean_adjuvant_weight(config))
    adjuvant = recurrence_collected & (draw["adjuvant"] < chance)
    radiation = adjuvant & (draw["radiation"] < _RADIATION_SHARE)

    frame["has_rnaseq"] = has_rnaseq
    frame["has_seg"] = has_seg
    frame["has_ct"] = has_seg
    frame["has_second_segment"] = second
    frame["recurrence_collected"] = recurrence_collected
    frame["adjuvant"] = adjuvant
    frame["chemotherapy"] = adjuvant
    frame["radiation"] = radiation
    frame["in_study_cohort"] = has_rnaseq & has_seg & recurrence_collected & ~adjuvant


def _t_stage(u_in_situ: np.ndarray, u_upstage: np.ndarray, diameter_mm: np.ndarray) -> np.ndarray:
    stage = np.where(diameter_mm <= 20, "T1a", np.where(diameter_mm <= 30, "T1b", "T2a"))
    stage = np.where((diameter_mm < 12) & (u_in_situ < 0.25), "Tis", stage)
    # Invasion upstages some tumours regardless of size.
    stage = np.where(u_upstage < 0.03, "T4", np.where(u_upstage < 0.15, "T3", stage))
    stage = np.where((u_upstage >= 0.15) & (u_upstage < 0.2) & (diameter_mm > 30), "T2b", stage)
    return stage.astype(object)


def _clinical_attributes(config: DemoConfig, frame: pd.DataFrame) -> None:
    uniforms, normals = _variates(
        config,
        frame["arrival"].to_numpy(),
        "clinical",
        len(_CLINICAL_UNIFORMS),
        len(_CLINICAL_NORMALS),
    )
    u = dict(zip(_CLINICAL_UNIFORMS, uniforms.T, strict=True))
    z = dict(zip(_CLINICAL_NORMALS, normals.T, strict=True))
    amc = (frame["site"] == "AMC").to_numpy()
    frame["lobe"] = _categorical(u["lobe"], LOBES, _LOBE_P)
    # Drawn for everyone so that no patient's stream depends on its site.
    frame["n_stage"] = np.where(
        amc, "Not Collected", _categorical(u["n_stage"], N_STAGES, _N_STAGE_P)
    ).astype(object)
    frame["t_stage"] = _t_stage(u["t_in_situ"], u["t_upstage"], frame["diameter_mm"].to_numpy())
    frame["m_stage"] = _categorical(u["m_stage"], ["M0", "M1a", "M1b"], [0.97, 0.01, 0.02])
    frame["sex"] = _categorical(u["sex"], ["M", "F"], [0.64, 0.36])
    frame["age"] = np.clip(np.rint(68.0 + 9.0 * z["age"]), 35, 90).astype(int)
    frame["affiliation"] = np.where(
        amc, "Stanford", _categorical(u["affiliation"], ["Stanford", "VA"], [0.45, 0.55])
    ).astype(object)
    span = (LAST_CT_DATE - FIRST_CT_DATE).days
    frame["ct_date"] = [
        FIRST_CT_DATE + dt.timedelta(days=int(d)) for d in _integers(u["ct_day"], 0, span)
    ]
    frame["ct_time"] = [
        f"{h:02d}{m:02d}{s:02d}"
        for h, m, s in zip(
            _integers(u["ct_hour"], 7, 18),
            _integers(u["ct_minute"], 0, 59),
            _integers(u["ct_second"], 0, 59),
            strict=True,
        )
    ]
    gap = np.clip(np.rint(np.exp(np.log(SURGERY_GAP_MEDIAN_DAYS) + 0.8 * z["surgery_gap"])), 1, 400)
    # Surgery precedes any recurrence: the gap is at most half the observed time.
    half_observed = np.maximum(1, frame["observed_days"].to_numpy() // 2)
    frame["surgery_gap_days"] = np.minimum(gap.astype(np.int64), half_observed)
    frame["pet_offset_days"] = _integers(u["pet_offset"], -10, 45)
    frame["recurrence_location"] = _categorical(
        u["recurrence_location"], ["distant", "regional", "local"], [0.68, 0.19, 0.13]
    )
    # Columns drawn here and only formatted by clinical.py.
    frame["u_weight"] = u["weight_missing"]
    frame["weight_lbs"] = np.clip(170.0 + 35.0 * z["weight"], 90.0, 320.0)
    frame["u_weight_format"] = u["weight_format"]
    frame["ethnicity"] = _categorical(
        u["ethnicity"],
        [
            "Caucasian",
            "Asian",
            "African-American",
            "Hispanic/Latino",
            "Native Hawaiian/Pacific Islander",
        ],
        [0.76, 0.15, 0.04, 0.035, 0.015],
    )
    frame["smoking"] = _categorical(
        u["smoking"], ["Former", "Current", "Nonsmoker"], [0.62, 0.16, 0.22]
    )
    frame["pack_years"] = np.clip(5 * np.rint((40.0 + 20.0 * z["pack_years"]) / 5), 5, 150).astype(
        int
    )
    frame["u_pack_years"] = u["pack_years_missing"]
    frame["years_since_quit"] = _integers(u["years_since_quit"], 0, 40)
    frame["ground_glass"] = _categorical(
        u["ground_glass"],
        ["0%", ">0 - 25%", "25 - 50%", "50 - 75%", "75 - < 100%", "100%", "Not Assessed"],
        [0.57, 0.22, 0.03, 0.04, 0.03, 0.01, 0.10],
    )
    frame["histology"] = _categorical(
        u["histology"],
        ["Adenocarcinoma", "Squamous cell carcinoma", "NSCLC NOS (not otherwise specified)"],
        [0.8, 0.17, 0.03],
    )
    frame["grade"] = _categorical(
        u["grade"],
        [
            "G1 Well differentiated",
            "G2 Moderately differentiated",
            "G3 Poorly differentiated",
            "Other, Type I: Well to moderately differentiated",
            "Other, Type II: Moderately to poorly differentiated",
        ],
        [0.2, 0.47, 0.2, 0.06, 0.07],
    )
    frame["lymphovascular"] = _categorical(
        u["lymphovascular"], ["Absent", "Present", "Not Collected"], [0.8, 0.13, 0.07]
    )
    frame["pleural"] = _categorical(u["pleural"], ["No", "Yes", "Not collected"], [0.7, 0.26, 0.04])
    frame["egfr"] = _categorical(
        u["egfr"], ["Wildtype", "Mutant", "Unknown", "Not collected"], [0.6, 0.2, 0.18, 0.02]
    )
    frame["kras"] = _categorical(
        u["kras"], ["Wildtype", "Mutant", "Unknown", "Not collected"], [0.63, 0.18, 0.16, 0.03]
    )
    frame["alk"] = _categorical(
        u["alk"],
        ["Wildtype", "Unknown", "Not collected", "Translocated"],
        [0.75, 0.17, 0.07, 0.01],
    )


def _vital_status(frame: pd.DataFrame) -> None:
    event = frame["event"].to_numpy()
    recurrence = frame["event_time_days"].to_numpy()
    follow_up = frame["follow_up_days"].to_numpy()
    other = frame["other_death_days"].to_numpy()
    after = frame["post_recurrence_survival_days"].to_numpy()
    death = np.where(event, np.minimum(recurrence + after, other), other)
    dead = death <= follow_up
    frame["dead"] = dead
    frame["death_day"] = pd.Series(death, dtype="Int64").where(dead, pd.NA)
    frame["last_alive_day"] = np.where(dead, death, follow_up).astype(np.int64)


def plan_cohort(config: DemoConfig) -> pd.DataFrame:
    """Draw the whole cohort for ``config``; one row per patient in arrival order.

    The first ``n`` rows equal the plan of the same config with ``n_patients = n``.
    """
    ids, sites = patient_ids(config)
    arrivals = np.arange(1, len(ids) + 1)
    frame = pd.DataFrame({"patient_id": ids, "site": sites, "arrival": arrivals})
    frame = pd.concat([frame, draw_signal(config.seed, arrivals.tolist())], axis=1)
    _clinical_attributes(config, frame)
    _assign_gaps(config, frame)
    _vital_status(frame)
    return frame
