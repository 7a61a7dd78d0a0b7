"""Cohort assets: outcomes, the per-patient verdict, the study cohort and its CONSORT flow.

The science lives in ``radiogenomics_assets.cohort``; these assets load the raw tables, pass the
run's configuration (defaulting to the paper's filter) and publish tables plus metadata.
"""

# No "from __future__ import annotations": Dagster reads these annotations at definition time.

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetOut,
    Config,
    MetadataValue,
    Output,
    asset,
    multi_asset,
)
from pydantic import Field

from radiogenomics_assets.assets.outputs import markdown_table, table_output
from radiogenomics_assets.assets.versions import with_code_version
from radiogenomics_assets.cohort.availability import availability, unmatched_patients
from radiogenomics_assets.cohort.clinical import type_clinical_labels
from radiogenomics_assets.cohort.criteria import (
    CohortCriteria,
    apply_criteria,
    consort_flow,
    flow_markdown,
    study_cohort,
)
from radiogenomics_assets.cohort.outcomes import compute_outcomes
from radiogenomics_assets.names import COHORT, RAW


class OutcomeConfig(Config):
    origin: str = Field(
        default="ct",
        description="'ct': days from the CT date (the paper's repository); "
        "'surgery': from CT date + 'Days between CT and surgery'",
    )


class CohortConfig(Config):
    """The cohort filter; the defaults are the paper's criteria."""

    require_rnaseq: bool = True
    require_ct: bool = True
    require_seg: bool = True
    require_known_recurrence: bool = True
    require_valid_outcome: bool = True
    exclude_adjuvant_therapy: bool = True
    therapy_flags: list[str] = Field(
        default_factory=lambda: ["adjuvant", "chemotherapy", "radiation"]
    )
    exclude_unknown_therapy: bool = True
    origin: str = Field(default="ct", description="must match cohort/outcomes' origin")

    def criteria(self) -> CohortCriteria:
        return CohortCriteria(
            require_rnaseq=self.require_rnaseq,
            require_ct=self.require_ct,
            require_seg=self.require_seg,
            require_known_recurrence=self.require_known_recurrence,
            require_valid_outcome=self.require_valid_outcome,
            exclude_adjuvant_therapy=self.exclude_adjuvant_therapy,
            therapy_flags=tuple(self.therapy_flags),
            exclude_unknown_therapy=self.exclude_unknown_therapy,
            origin=self.origin,
        )


@with_code_version
@asset(
    key_prefix=COHORT,
    group_name=COHORT,
    ins={"clinical_labels": AssetIn(key=[RAW, "clinical_labels"])},
    kinds={"duckdb"},
    description="Recurrence event (0/1) and days from the CT date (or surgery), per patient.",
)
def outcomes(config: OutcomeConfig, clinical_labels: pd.DataFrame) -> Output[pd.DataFrame]:
    frame = compute_outcomes(type_clinical_labels(clinical_labels), origin=config.origin)
    usable = frame["outcome_problem"].isna()
    return table_output(
        frame,
        metadata={
            "origin": config.origin,
            "n_patients": len(frame),
            "n_usable": int(usable.sum()),
            "n_events": int(frame.loc[usable, "event"].sum()),
            "problems": markdown_table(frame.loc[~usable, ["patient_id", "outcome_problem"]]),
        },
    )


@with_code_version
@asset(
    key_prefix=COHORT,
    group_name=COHORT,
    ins={
        "clinical_labels": AssetIn(key=[RAW, "clinical_labels"]),
        "rnaseq_expression": AssetIn(key=[RAW, "rnaseq_expression"]),
        "imaging_manifest": AssetIn(key=[RAW, "imaging_manifest"]),
        "outcomes": AssetIn(key=[COHORT, "outcomes"]),
    },
    kinds={"duckdb"},
    description="Every clinical patient: typed fields, availability, therapy flags, "
    "included and the first failed criterion (exclusion_reason).",
)
def patients(
    context: AssetExecutionContext,
    config: CohortConfig,
    clinical_labels: pd.DataFrame,
    rnaseq_expression: pd.DataFrame,
    imaging_manifest: pd.DataFrame,
    outcomes: pd.DataFrame,
) -> Output[pd.DataFrame]:
    typed = type_clinical_labels(clinical_labels)
    ids = typed["patient_id"].astype(str).tolist()
    present = availability(ids, rnaseq_expression, imaging_manifest)
    frame = apply_criteria(typed, outcomes, present, config.criteria())
    unmatched = unmatched_patients(ids, rnaseq_expression, imaging_manifest)
    for reason in unmatched["reason"]:
        context.log.warning(reason)
    reasons = frame["exclusion_reason"].value_counts().to_dict()
    return table_output(
        frame,
        metadata={
            "n_patients": len(frame),
            "n_included": int(frame["included"].sum()),
            "exclusions": MetadataValue.json({str(k): int(v) for k, v in reasons.items()}),
            "n_unmatched_patients": len(unmatched),
            "unmatched_patients": markdown_table(unmatched),
        },
    )


@with_code_version
@multi_asset(
    outs={
        "study_cohort": AssetOut(
            key=[COHORT, "study_cohort"],
            group_name=COHORT,
            kinds={"duckdb"},
            description="The included patients with event, days and main covariates.",
        ),
        "consort_flow": AssetOut(
            key=[COHORT, "consort_flow"],
            group_name=COHORT,
            kinds={"duckdb"},
            description="CONSORT-style flow: criterion, patients remaining, patients removed.",
        ),
    },
    ins={
        "patients": AssetIn(key=[COHORT, "patients"]),
        "outcomes": AssetIn(key=[COHORT, "outcomes"]),
    },
)
def study_cohort_and_flow(config: CohortConfig, patients: pd.DataFrame, outcomes: pd.DataFrame):
    cohort = study_cohort(patients, outcomes)
    flow = consort_flow(patients, config.criteria())
    markdown = MetadataValue.md(flow_markdown(flow))
    yield table_output(
        cohort,
        output_name="study_cohort",
        metadata={
            "n_patients": len(cohort),
            "n_events": int(cohort["event"].sum()),
            "median_days": float(cohort["days"].median()) if len(cohort) else float("nan"),
            "consort_flow": markdown,
        },
    )
    yield table_output(flow, output_name="consort_flow", metadata={"consort_flow": markdown})


cohort_assets = [outcomes, patients, study_cohort_and_flow]
