"""Gene-expression feature assets: the cleaned cohort × gene table and the paper's top-500 view."""

# No "from __future__ import annotations": Dagster reads these annotations at definition time.

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, MetadataValue, Output, asset

from radiogenomics_assets.defs.assets.outputs import markdown_table, table_output
from radiogenomics_assets.defs.assets.versions import with_code_version
from radiogenomics_assets.defs.names import COHORT, FEATURES, RAW
from radiogenomics_assets.defs.resources.features import ExpressionSettings
from radiogenomics_assets.features.blocks import genomics_block
from radiogenomics_assets.omics.expression import ExpressionScaleError, clean_expression
from radiogenomics_assets.omics.gene_matrix import top500_whole_cohort


def transform_setting_hint() -> str:
    """Where a user sets ``transform``: the study file's ``genomics`` section."""
    return (
        ". The setting is the study file's genomics.transform (auto, log1p, log10p or none; "
        "the file $RADIOGENOMICS_STUDY names, see studies/)"
    )


@with_code_version
@asset(
    key_prefix=FEATURES,
    group_name=FEATURES,
    ins={
        "rnaseq_expression": AssetIn(key=[RAW, "rnaseq_expression"]),
        "study_cohort": AssetIn(key=[COHORT, "study_cohort"]),
    },
    kinds={"duckdb"},
    description="Cohort × gene expression after the NA policy, duplicate resolution, the "
    "study's transform (log(x+1) for FPKM) and imputation; long (gene, patient_id, expression, "
    "imputed), sorted by gene.",
)
def gene_expression(
    context: AssetExecutionContext,
    expression: ExpressionSettings,
    rnaseq_expression: pd.DataFrame,
    study_cohort: pd.DataFrame,
) -> Output[pd.DataFrame]:
    try:
        cleaned = clean_expression(
            rnaseq_expression,
            study_cohort["patient_id"].astype(str).tolist(),
            max_na_fraction=expression.max_na_fraction,
            transform=expression.transform,
            impute=expression.impute,
            duplicates=expression.duplicates,
        )
    except ExpressionScaleError as error:
        raise ExpressionScaleError(f"{error}{transform_setting_hint()}") from error
    report = cleaned.report
    context.log.info(f"expression transform: {report.transform} ({report.transform_reason})")
    return table_output(
        cleaned.long,
        metadata={
            **report.summary(),
            "dropped_for_na": markdown_table(report.dropped_for_na),
            "duplicated_symbols": markdown_table(report.duplicated_symbols),
            "all_na_genes": MetadataValue.json(list(report.all_na_genes)),
        },
    )


@with_code_version
@asset(
    key_prefix=FEATURES,
    group_name=FEATURES,
    ins={"gene_expression": AssetIn(key=[FEATURES, "gene_expression"])},
    kinds={"duckdb"},
    description="The paper's reading: top-500 variance genes over the WHOLE cohort. For "
    "comparison only; the models select genes on each fold's training rows.",
)
def gene_matrix_top500(gene_expression: pd.DataFrame) -> Output[pd.DataFrame]:
    top = top500_whole_cohort(genomics_block(gene_expression))
    ranks = {gene: rank for rank, gene in enumerate(top.columns, start=1)}
    long = (
        top.rename_axis(index="patient_id", columns="gene")
        .stack()
        .rename("expression")
        .reset_index()
        .assign(variance_rank=lambda f: f["gene"].map(ranks))
        .sort_values(["variance_rank", "patient_id"])
        .reset_index(drop=True)
    )
    return table_output(
        long[["gene", "patient_id", "expression", "variance_rank"]],
        metadata={"n_genes": top.shape[1], "n_patients": top.shape[0]},
    )


genomics_assets = [gene_expression, gene_matrix_top500]
