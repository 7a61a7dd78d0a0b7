"""Cohort assets: outcomes, the per-patient verdict, the study cohort and its CONSORT flow.

The science lives in ``radiogenomics_assets.cohort``; these assets load the raw tables, read the
``cohort`` resource (the study file's cohort section, defaulting to the paper's filter) and
publish tables plus metadata.
"""

# No "from __future__ import annotations": Dagster reads these annotations at definition time.

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetOut,
    MetadataValue,
    Output,
    asset,
    multi_asset,
)

from radiogenomics_assets.cohort.availability import availability, unmatched_patients
from radiogenomics_assets.cohort.clinical import type_clinical_labels
from radiogenomics_assets.cohort.criteria import (
    apply_criteria,
    consort_flow,
    flow_markdown,
    study_cohort,
)
from radiogenomics_assets.cohort.outcomes import compute_outcomes
from radiogenomics_assets.defs.assets.outputs import markdown_table, table_output
from radiogenomics_assets.defs.assets.settings_versions import require_versioned_settings
from radiogenomics_assets.defs.assets.versions import with_code_version
from radiogenomics_assets.defs.names import COHORT, RAW
from radiogenomics_assets.defs.resources.cohort import CohortResource


@with_code_version
@asset(
    key_prefix=COHORT,
    group_name=COHORT,
    ins={"clinical_labels": AssetIn(key=[RAW, "clinical_labels"])},
    kinds={"duckdb"},
    description="Recurrence event (0/1) and days from the CT date (or surgery), per patient.",
)
def outcomes(
    context: AssetExecutionContext, cohort: CohortResource, clinical_labels: pd.DataFrame
) -> Output[pd.DataFrame]:
    require_versioned_settings(context, cohort=cohort)
    frame = compute_outcomes(type_clinical_labels(clinical_labels), origin=cohort.origin)
    usable = frame["outcome_problem"].isna()
    return table_output(
        frame,
        metadata={
            "origin": cohort.origin,
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
    cohort: CohortResource,
    clinical_labels: pd.DataFrame,
    rnaseq_expression: pd.DataFrame,
    imaging_manifest: pd.DataFrame,
    outcomes: pd.DataFrame,
) -> Output[pd.DataFrame]:
    require_versioned_settings(context, cohort=cohort)
    typed = type_clinical_labels(clinical_labels)
    ids = typed["patient_id"].astype(str).tolist()
    present = availability(ids, rnaseq_expression, imaging_manifest)
    frame = apply_criteria(typed, outcomes, present, cohort.criteria())
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
            "cohort_settings": MetadataValue.json(cohort.model_dump()),
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
def study_cohort_and_flow(
    context: AssetExecutionContext,
    cohort: CohortResource,
    patients: pd.DataFrame,
    outcomes: pd.DataFrame,
):
    require_versioned_settings(context, cohort=cohort)
    included = study_cohort(patients, outcomes)
    flow = consort_flow(patients, cohort.criteria())
    markdown = MetadataValue.md(flow_markdown(flow))
    yield table_output(
        included,
        output_name="study_cohort",
        metadata={
            "n_patients": len(included),
            "n_events": int(included["event"].sum()),
            "median_days": float(included["days"].median()) if len(included) else float("nan"),
            "consort_flow": markdown,
            "cohort_settings": MetadataValue.json(cohort.model_dump()),
        },
    )
    yield table_output(flow, output_name="consort_flow", metadata={"consort_flow": markdown})


cohort_assets = [outcomes, patients, study_cohort_and_flow]
