"""Provenance: which materialization (run, code version, data version, inputs) made what.

Dagster records, on every materialization, its code version, data version and the data version
of each input. ``evaluation/lineage`` copies that record for every asset and partition into
DuckDB, so SQL can walk from a C-index back to the sha256 of the DICOM and CSV files behind it.
"""

# No "from __future__ import annotations": Dagster reads these annotations at definition time.

from collections.abc import Mapping, Sequence

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    DagsterInstance,
    Output,
    PartitionsDefinition,
    asset,
)

from radiogenomics_assets.defs.assets.outputs import table_output
from radiogenomics_assets.defs.assets.versions import with_code_version
from radiogenomics_assets.defs.materializations import (
    latest_materialization,
    latest_materializations,
)
from radiogenomics_assets.defs.names import EVALUATION

LINEAGE = AssetKey([EVALUATION, "lineage"])


def lineage_rows(
    instance: DagsterInstance, partitions_by_key: Mapping[AssetKey, PartitionsDefinition | None]
) -> pd.DataFrame:
    """One row per (asset, partition, input) of the latest materializations in ``instance``."""
    rows = []
    for key in sorted(partitions_by_key, key=lambda k: k.to_user_string()):
        partitions_def = partitions_by_key[key]
        if partitions_def:
            partitions = partitions_def.get_partition_keys(dynamic_partitions_store=instance)
            latest = latest_materializations(instance, key, list(partitions))
        else:
            partitions, latest = [None], {None: latest_materialization(instance, key)}
        for partition in partitions:
            record = latest.get(partition)
            if record is None or record.run_id is None:
                continue
            inputs = sorted(record.input_data_versions.items()) or [(None, None)]
            for input_key, input_version in inputs:
                rows.append(
                    {
                        "asset_key": key.to_user_string(),
                        "partition": partition,
                        "run_id": record.run_id,
                        "materialized_at": pd.Timestamp(record.timestamp, unit="s"),
                        "code_version": record.code_version,
                        "data_version": record.data_version,
                        "input_asset_key": input_key,
                        "input_data_version": input_version,
                    }
                )
    return pd.DataFrame(
        rows,
        columns=[
            "asset_key",
            "partition",
            "run_id",
            "materialized_at",
            "code_version",
            "data_version",
            "input_asset_key",
            "input_data_version",
        ],
    )


def build_lineage(graph_assets: Sequence[AssetsDefinition]) -> AssetsDefinition:
    """``evaluation/lineage`` over ``graph_assets`` and itself."""

    @with_code_version
    @asset(
        key_prefix=EVALUATION,
        group_name=EVALUATION,
        deps=[AssetKey([EVALUATION, "results_table"]), AssetKey([EVALUATION, "td_auc_figures"])],
        kinds={"duckdb"},
        description="Dagster's record of every asset's latest materialization (run, code and data "
        "version) and the data version of each of its inputs, for SQL lineage queries.",
    )
    def lineage(context: AssetExecutionContext) -> Output[pd.DataFrame]:
        partitions_by_key = {key: a.partitions_def for a in graph_assets for key in a.keys}
        frame = lineage_rows(context.instance, {**partitions_by_key, LINEAGE: None})
        return table_output(
            frame,
            metadata={
                "n_assets": int(frame["asset_key"].nunique()),
                "n_materializations": int(
                    frame[["asset_key", "partition"]].drop_duplicates().shape[0]
                ),
            },
        )

    return lineage
