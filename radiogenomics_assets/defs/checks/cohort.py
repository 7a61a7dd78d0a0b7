"""Contracts on the cohort and expression assets."""

import pandas as pd
from dagster import AssetCheckResult, AssetIn, AssetKey, asset_check

from radiogenomics_assets.cohort import checks
from radiogenomics_assets.defs.checks.results import check_result
from radiogenomics_assets.defs.names import COHORT, FEATURES, RAW
from radiogenomics_assets.features.blocks import genomics_block


@asset_check(asset=AssetKey([COHORT, "patients"]), blocking=True)
def unique_patient_ids(patients: pd.DataFrame) -> AssetCheckResult:
    return check_result(checks.check_unique_patient_ids(patients, "cohort.patients"))


@asset_check(asset=AssetKey([COHORT, "study_cohort"]), blocking=True)
def positive_days(study_cohort: pd.DataFrame) -> AssetCheckResult:
    return check_result(checks.check_positive_days(study_cohort))


@asset_check(asset=AssetKey([COHORT, "study_cohort"]), blocking=True)
def has_events(study_cohort: pd.DataFrame) -> AssetCheckResult:
    return check_result(checks.check_has_events(study_cohort))


@asset_check(
    asset=AssetKey([FEATURES, "gene_expression"]),
    blocking=True,
    additional_ins={"study_cohort": AssetIn(key=[COHORT, "study_cohort"])},
)
def expression_complete(
    gene_expression: pd.DataFrame, study_cohort: pd.DataFrame
) -> AssetCheckResult:
    matrix = genomics_block(gene_expression)
    return check_result(
        checks.check_expression_complete(
            study_cohort["patient_id"].astype(str).tolist(), matrix, list(matrix.columns)
        )
    )


@asset_check(asset=AssetKey([RAW, "rnaseq_expression"]))
def no_all_na_genes(rnaseq_expression: pd.DataFrame) -> AssetCheckResult:
    return check_result(checks.check_all_na_genes(rnaseq_expression))


@asset_check(asset=AssetKey([RAW, "rnaseq_expression"]))
def no_mostly_na_patients(rnaseq_expression: pd.DataFrame) -> AssetCheckResult:
    return check_result(checks.check_mostly_na_patients(rnaseq_expression))


cohort_checks = [
    unique_patient_ids,
    positive_days,
    has_events,
    expression_complete,
    no_all_na_genes,
    no_mostly_na_patients,
]
