"""Names shared by the Dagster layer: asset groups (= DuckDB schemas) and partition sets."""

from __future__ import annotations

RAW = "raw"
COHORT = "cohort"
FEATURES = "features"
MODELING = "modeling"
EVALUATION = "evaluation"

PATIENTS_PARTITIONS = "patients"
