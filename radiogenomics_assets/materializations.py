"""What the Dagster instance recorded about an asset's latest materialization.

Shared by the evaluation (which model run produced a metric) and ``evaluation/lineage``.
"""

from __future__ import annotations

from dataclasses import dataclass

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

INPUT_VERSION_TAG = "dagster/input_data_version/"


@dataclass(frozen=True)
class Materialization:
    run_id: str | None
    code_version: str | None
    data_version: str | None
    timestamp: float | None
    input_data_versions: dict[str, str]


def latest_materialization(
    instance: DagsterInstance, key: AssetKey, partition: str | None = None
) -> Materialization:
    """The latest materialization record of ``key`` (and ``partition``); fields None if none."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None),
        limit=1,
    ).records
    if not records:
        return Materialization(None, None, None, None, {})
    event = records[0].asset_materialization
    tags = event.tags or {}
    inputs = {
        name[len(INPUT_VERSION_TAG) :]: version
        for name, version in tags.items()
        if name.startswith(INPUT_VERSION_TAG)
    }
    return Materialization(
        run_id=records[0].run_id,
        code_version=tags.get("dagster/code_version"),
        data_version=tags.get("dagster/data_version"),
        timestamp=records[0].timestamp,
        input_data_versions=inputs,
    )
