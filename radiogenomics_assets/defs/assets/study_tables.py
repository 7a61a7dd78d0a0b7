"""Study-level imaging tables: the per-patient feature rows of the study cohort, in one table each.

The fold models read these instead of the per-patient partitions, so every input a model has
is unpartitioned and Dagster's own stale status compares it (Dagster stops comparing the
partitioned inputs of an asset above 100 upstream partitions). Only the edge from the patients
to these tables fans in. A table's data version is its content: a patient rerun that gives the
same rows, or a change to a patient outside the study cohort, leaves every model fresh.
"""

# No "from __future__ import annotations": Dagster reads these annotations at definition time.

import pandas as pd
from dagster import AllPartitionMapping, AssetIn, AssetsDefinition, Output, asset

from radiogenomics_assets.defs.assets.outputs import table_output
from radiogenomics_assets.defs.assets.versions import with_code_version
from radiogenomics_assets.defs.names import COHORT, FEATURES
from radiogenomics_assets.features.densenet import FEATURE_DIM

#: Per-patient feature asset → (its study-level table, column types the store must keep).
STUDY_TABLES = {
    "radiomic_features": ("radiomic_table", {}),
    "densenet_features": ("densenet_table", {"densenet_features": f"FLOAT[{FEATURE_DIM}]"}),
}


def study_rows(rows: pd.DataFrame, study_cohort: pd.DataFrame) -> pd.DataFrame:
    """The rows of the study cohort's patients, in patient order (the order is part of the
    content, and so of the data version)."""
    kept = rows[rows["patient_id"].isin(study_cohort["patient_id"])]
    return kept.sort_values("patient_id", kind="stable").reset_index(drop=True)


def build_study_table(per_patient: str) -> AssetsDefinition:
    """``features/<table>``: the study cohort's rows of the per-patient asset ``per_patient``."""
    name, column_types = STUDY_TABLES[per_patient]

    @with_code_version
    @asset(
        name=name,
        key_prefix=FEATURES,
        group_name=FEATURES,
        ins={
            "rows": AssetIn(key=[FEATURES, per_patient], partition_mapping=AllPartitionMapping()),
            "study_cohort": AssetIn(key=[COHORT, "study_cohort"]),
        },
        metadata={"column_types": column_types} if column_types else None,
        kinds={"duckdb"},
        description=f"features.{per_patient} of the study cohort's patients, one table read by "
        "the fold models; its data version is its content.",
    )
    def study_table(rows: pd.DataFrame, study_cohort: pd.DataFrame) -> Output[pd.DataFrame]:
        kept = study_rows(rows, study_cohort)
        missing = sorted(set(study_cohort["patient_id"]) - set(kept["patient_id"]))
        return table_output(
            kept,
            metadata={
                "n_patients": len(kept),
                "n_outside_the_study_cohort": int(len(rows) - len(kept)),
                "n_study_patients_without_rows": len(missing),
            },
        )

    return study_table


study_table_assets = [build_study_table(per_patient) for per_patient in STUDY_TABLES]
