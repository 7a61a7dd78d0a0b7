"""What the Dagster instance recorded about an asset's latest materialization.

Shared by the evaluation (which model run produced a metric) and ``evaluation/lineage``.
"""

from __future__ import annotations

from dataclasses import dataclass

from dagster import AssetKey, AssetRecordsFilter, DagsterEventType, DagsterInstance

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
    return _from_record(records[0])


def latest_materializations(
    instance: DagsterInstance, key: AssetKey, partitions: list[str]
) -> dict[str, Materialization]:
    """The latest materialization of each of ``partitions`` of ``key`` that has one.

    Two queries whatever the number of partitions (the latest event id per partition, then
    those events), instead of one query per partition.
    """
    latest = instance.get_latest_storage_id_by_partition(
        key, DagsterEventType.ASSET_MATERIALIZATION, partitions=set(partitions)
    )
    if not latest:
        return {}
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, storage_ids=list(latest.values())), limit=len(latest)
    ).records
    return {
        record.partition_key: _from_record(record)
        for record in records
        if record.partition_key is not None
    }


def _from_record(record) -> Materialization:
    tags = record.asset_materialization.tags or {}
    inputs = {
        name[len(INPUT_VERSION_TAG) :]: version
        for name, version in tags.items()
        if name.startswith(INPUT_VERSION_TAG)
    }
    return Materialization(
        run_id=record.run_id,
        code_version=tags.get("dagster/code_version"),
        data_version=tags.get("dagster/data_version"),
        timestamp=record.timestamp,
        input_data_versions=inputs,
    )
