"""The oracle side of a demo cohort: ground-truth table, signal description, CONSORT counts."""

from __future__ import annotations

from typing import Any

import pandas as pd

from radiogenomics_assets.sources.demo.config import DemoConfig
from radiogenomics_assets.sources.demo.expression import ExpressionTruth
from radiogenomics_assets.sources.demo.signal import describe_signal

#: Plan columns copied into ground_truth.csv, in this order.
GROUND_TRUTH_PLAN_COLUMNS = (
    "patient_id",
    "site",
    "log_hazard",
    "genomic_component",
    "imaging_component",
    "z_genomic",
    "z_log_diameter",
    "z_heterogeneity",
    "eta_noise",
    "diameter_mm",
    "heterogeneity_hu",
    "mean_density_hu",
    "event_time_days",
    "follow_up_days",
    "other_death_days",
    "censor_time_days",
    "event",
    "observed_days",
    "has_rnaseq",
    "has_ct",
    "has_seg",
    "has_second_segment",
    "recurrence_collected",
    "adjuvant",
    "chemotherapy",
    "radiation",
    "in_study_cohort",
    "lobe",
    "n_stage",
    "ct_date",
    "surgery_gap_days",
)


def ground_truth_table(plan: pd.DataFrame, imaging: list[dict[str, Any]]) -> pd.DataFrame:
    frame = plan.loc[:, list(GROUND_TRUTH_PLAN_COLUMNS)].copy()
    frame["ct_date"] = [d.isoformat() for d in frame["ct_date"]]
    image_frame = pd.DataFrame(imaging)
    if image_frame.empty:
        image_frame = pd.DataFrame(columns=["patient_id"])
    merged = frame.merge(image_frame, on="patient_id", how="left", validate="one_to_one")
    for column in ("nodule_voxels", "nodule_slices", "nodule_segment_number"):
        if column in merged:
            merged[column] = merged[column].astype("Int64")
    return merged


def signal_document(config: DemoConfig, truth: ExpressionTruth) -> dict[str, Any]:
    document = describe_signal()
    document["driver_genes"] = {
        **document["driver_genes"],
        "genes": list(truth.driver_genes),
        "loadings": list(truth.driver_loadings),
        "baseline_log_fpkm": list(truth.driver_baseline_log_fpkm),
    }
    document["expression_matrix"] = {
        "n_genes": len(truth.genes),
        "n_patients": len(truth.patients),
        "na_fraction": truth.na_fraction,
        "all_na_gene": truth.all_na_gene,
        "heavy_na_genes": list(truth.heavy_na_genes),
    }
    document["seed"] = config.seed
    return document


def consort_counts(ground_truth: pd.DataFrame) -> dict[str, int]:
    """The study-filter funnel of a cohort (the paper's: RNA-seq, imaging, known recurrence,
    no adjuvant therapy), cumulative from top to bottom."""
    rna = ground_truth["has_rnaseq"].astype(bool)
    seg = ground_truth["has_seg"].astype(bool)
    known = ground_truth["recurrence_collected"].astype(bool)
    no_adjuvant = ~ground_truth["adjuvant"].astype(bool)
    study = rna & seg & known & no_adjuvant
    return {
        "total": len(ground_truth),
        "with_rnaseq": int(rna.sum()),
        "with_seg": int(seg.sum()),
        "with_rnaseq_and_seg": int((rna & seg).sum()),
        "recurrence_known": int((rna & seg & known).sum()),
        "no_adjuvant": int(study.sum()),
        "events_in_study": int(ground_truth.loc[study, "event"].astype(bool).sum()),
    }
