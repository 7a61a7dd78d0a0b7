"""Partition sets: one dynamic partition per imaged patient, one static partition per CV fold."""

from __future__ import annotations

from dagster import DynamicPartitionsDefinition, StaticPartitionsDefinition

from radiogenomics_assets.names import PATIENTS_PARTITIONS

FOLD_NAMES = ("fold_1", "fold_2", "fold_3", "fold_4", "fold_5")
#: Asset metadata telling the DuckDB IO manager which column holds the fold partition.
FOLD_PARTITION = {"partition_expr": "fold"}

patients_partitions = DynamicPartitionsDefinition(name=PATIENTS_PARTITIONS)
folds_partitions = StaticPartitionsDefinition(list(FOLD_NAMES))
