"""The cohort plan: one row per patient with every fact the writers need and the truth behind it.

The plan is drawn first and completely (ids, latents, outcomes, gaps, clinical attributes,
dates); the CSV, matrix, DICOM and ground-truth writers only format it. Each part draws from its
own named stream, so the gaps never see the latents: which patients lack RNA-seq, a SEG or a
recurrence status, or get adjuvant therapy, is independent of the planted log-hazard (adjuvant
therapy depends mildly on N stage, which is itself independent of the latents).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from radiogenomics_assets.sources.demo.config import DemoConfig, count_of
from radiogenomics_assets.sources.demo.randomness import rng
from radiogenomics_assets.sources.demo.signal import draw_latents, draw_outcomes

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


def patient_ids(config: DemoConfig) -> tuple[list[str], list[str]]:
    """Ids in the real scheme, AMC first as in the sorted real CSV, and each one's site."""
    n_amc = config.n_amc
    n_r01 = config.n_patients - n_amc
    ids = [f"AMC-{i:03d}" for i in range(1, n_amc + 1)] + [
        f"R01-{i:03d}" for i in range(1, n_r01 + 1)
    ]
    sites = ["AMC"] * n_amc + ["R01"] * n_r01
    return ids, sites


def _pick(generator: np.random.Generator, candidates: np.ndarray, k: int) -> np.ndarray:
    if k <= 0 or candidates.size == 0:
        return np.array([], dtype=int)
    return np.sort(generator.choice(candidates, size=min(k, candidates.size), replace=False))


def _assign_gaps(config: DemoConfig, frame: pd.DataFrame) -> None:
    n = len(frame)
    is_r01 = (frame["site"] == "R01").to_numpy()
    r01 = np.flatnonzero(is_r01)

    has_rnaseq = is_r01.copy()
    no_rna = _pick(
        rng(config.seed, "gaps", "rnaseq"),
        r01,
        count_of(config.r01_without_rnaseq_fraction, r01.size),
    )
    has_rnaseq[no_rna] = False

    has_seg = np.ones(n, dtype=bool)
    no_seg = _pick(
        rng(config.seed, "gaps", "seg"),
        np.arange(n),
        count_of(config.without_seg_fraction, n),
    )
    has_seg[no_seg] = False

    second = np.zeros(n, dtype=bool)
    with_seg = np.flatnonzero(has_seg)
    second[
        _pick(
            rng(config.seed, "gaps", "second_segment"),
            with_seg,
            count_of(config.second_segment_fraction, with_seg.size),
        )
    ] = True

    # The one unknown recurrence status sits where the study filter has to catch it.
    recurrence_collected = np.ones(n, dtype=bool)
    if config.recurrence_not_collected:
        complete = np.flatnonzero(has_rnaseq & has_seg)
        pool = complete if complete.size else np.arange(n)
        recurrence_collected[_pick(rng(config.seed, "gaps", "recurrence"), pool, 1)] = False

    weights = frame["n_stage"].map(_ADJUVANT_WEIGHT).to_numpy(dtype=float)
    eligible = np.flatnonzero(recurrence_collected)
    k = count_of(config.adjuvant_fraction, n)
    adjuvant = np.zeros(n, dtype=bool)
    generator = rng(config.seed, "gaps", "adjuvant")
    if k > 0 and eligible.size:
        p = weights[eligible] / weights[eligible].sum()
        chosen = generator.choice(eligible, size=min(k, eligible.size), replace=False, p=p)
        adjuvant[chosen] = True
    radiation = adjuvant & (generator.uniform(size=n) < _RADIATION_SHARE)

    frame["has_rnaseq"] = has_rnaseq
    frame["has_seg"] = has_seg
    frame["has_ct"] = has_seg
    frame["has_second_segment"] = second
    frame["recurrence_collected"] = recurrence_collected
    frame["adjuvant"] = adjuvant
    frame["chemotherapy"] = adjuvant
    frame["radiation"] = radiation
    frame["in_study_cohort"] = has_rnaseq & has_seg & recurrence_collected & ~adjuvant


def _t_stage(generator: np.random.Generator, diameter_mm: np.ndarray) -> np.ndarray:
    stage = np.where(diameter_mm <= 20, "T1a", np.where(diameter_mm <= 30, "T1b", "T2a"))
    u = generator.uniform(size=diameter_mm.size)
    stage = np.where((diameter_mm < 12) & (u < 0.25), "Tis", stage)
    # Invasion upstages some tumours regardless of size.
    upgrade = generator.uniform(size=diameter_mm.size)
    stage = np.where(upgrade < 0.03, "T4", np.where(upgrade < 0.15, "T3", stage))
    stage = np.where((upgrade >= 0.15) & (upgrade < 0.2) & (diameter_mm > 30), "T2b", stage)
    return stage.astype(object)


def _clinical_attributes(config: DemoConfig, frame: pd.DataFrame) -> None:
    g = rng(config.seed, "clinical")
    n = len(frame)
    frame["lobe"] = g.choice(LOBES, size=n, p=_LOBE_P)
    frame["n_stage"] = np.where(
        frame["site"] == "R01", g.choice(N_STAGES, size=n, p=_N_STAGE_P), "Not Collected"
    )
    frame["t_stage"] = _t_stage(g, frame["diameter_mm"].to_numpy())
    frame["m_stage"] = g.choice(["M0", "M1a", "M1b"], size=n, p=[0.97, 0.01, 0.02])
    frame["sex"] = g.choice(["M", "F"], size=n, p=[0.64, 0.36])
    frame["age"] = np.clip(np.rint(g.normal(68.0, 9.0, n)), 35, 90).astype(int)
    frame["affiliation"] = np.where(
        frame["site"] == "AMC", "Stanford", g.choice(["Stanford", "VA"], size=n, p=[0.45, 0.55])
    )
    span = (LAST_CT_DATE - FIRST_CT_DATE).days
    frame["ct_date"] = [
        FIRST_CT_DATE + dt.timedelta(days=int(d)) for d in g.integers(0, span + 1, n)
    ]
    frame["ct_time"] = [
        f"{h:02d}{m:02d}{s:02d}"
        for h, m, s in zip(
            g.integers(7, 19, n), g.integers(0, 60, n), g.integers(0, 60, n), strict=True
        )
    ]
    gap = np.clip(np.rint(np.exp(g.normal(np.log(SURGERY_GAP_MEDIAN_DAYS), 0.8, n))), 1, 400)
    # Surgery precedes any recurrence: the gap is at most half the observed time.
    half_observed = np.maximum(1, frame["observed_days"].to_numpy() // 2)
    frame["surgery_gap_days"] = np.minimum(gap.astype(np.int64), half_observed)
    frame["pet_offset_days"] = g.integers(-10, 46, n)
    frame["recurrence_location"] = g.choice(
        ["distant", "regional", "local"], size=n, p=[0.68, 0.19, 0.13]
    )
    # Columns drawn here and only formatted by clinical.py; drawn for everyone so that
    # the stream does not depend on who is AMC.
    frame["u_weight"] = g.uniform(size=n)
    frame["weight_lbs"] = np.clip(g.normal(170.0, 35.0, n), 90.0, 320.0)
    frame["u_weight_format"] = g.uniform(size=n)
    frame["ethnicity"] = g.choice(
        [
            "Caucasian",
            "Asian",
            "African-American",
            "Hispanic/Latino",
            "Native Hawaiian/Pacific Islander",
        ],
        size=n,
        p=[0.76, 0.15, 0.04, 0.035, 0.015],
    )
    frame["smoking"] = g.choice(["Former", "Current", "Nonsmoker"], size=n, p=[0.62, 0.16, 0.22])
    frame["pack_years"] = np.clip(5 * np.rint(g.normal(40.0, 20.0, n) / 5), 5, 150).astype(int)
    frame["u_pack_years"] = g.uniform(size=n)
    frame["years_since_quit"] = g.integers(0, 41, n)
    frame["ground_glass"] = g.choice(
        ["0%", ">0 - 25%", "25 - 50%", "50 - 75%", "75 - < 100%", "100%", "Not Assessed"],
        size=n,
        p=[0.57, 0.22, 0.03, 0.04, 0.03, 0.01, 0.10],
    )
    frame["histology"] = g.choice(
        ["Adenocarcinoma", "Squamous cell carcinoma", "NSCLC NOS (not otherwise specified)"],
        size=n,
        p=[0.8, 0.17, 0.03],
    )
    frame["grade"] = g.choice(
        [
            "G1 Well differentiated",
            "G2 Moderately differentiated",
            "G3 Poorly differentiated",
            "Other, Type I: Well to moderately differentiated",
            "Other, Type II: Moderately to poorly differentiated",
        ],
        size=n,
        p=[0.2, 0.47, 0.2, 0.06, 0.07],
    )
    frame["lymphovascular"] = g.choice(
        ["Absent", "Present", "Not Collected"], size=n, p=[0.8, 0.13, 0.07]
    )
    frame["pleural"] = g.choice(["No", "Yes", "Not collected"], size=n, p=[0.7, 0.26, 0.04])
    frame["egfr"] = g.choice(
        ["Wildtype", "Mutant", "Unknown", "Not collected"], size=n, p=[0.6, 0.2, 0.18, 0.02]
    )
    frame["kras"] = g.choice(
        ["Wildtype", "Mutant", "Unknown", "Not collected"], size=n, p=[0.63, 0.18, 0.16, 0.03]
    )
    frame["alk"] = g.choice(
        ["Wildtype", "Unknown", "Not collected", "Translocated"],
        size=n,
        p=[0.75, 0.17, 0.07, 0.01],
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
    """Draw the whole cohort for ``config``; one row per patient in id order."""
    ids, sites = patient_ids(config)
    frame = pd.DataFrame({"patient_id": ids, "site": sites})
    latents = draw_latents(rng(config.seed, "latents"), len(ids))
    outcomes = draw_outcomes(rng(config.seed, "outcomes"), latents["log_hazard"].to_numpy())
    frame = pd.concat([frame, latents, outcomes], axis=1)
    _clinical_attributes(config, frame)
    _assign_gaps(config, frame)
    _vital_status(frame)
    return frame
