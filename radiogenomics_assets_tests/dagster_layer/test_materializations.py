"""The latest materialization of every partition at once equals asking partition by partition."""

from __future__ import annotations

import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    DataVersion,
    Output,
    StaticPartitionsDefinition,
    asset,
    materialize,
)

from radiogenomics_assets.defs.materializations import (
    latest_materialization,
    latest_materializations,
)

PARTITIONS = StaticPartitionsDefinition(["a", "b", "c", "d"])


@asset(partitions_def=PARTITIONS, code_version="1")
def numbered(context) -> Output[int]:
    count = int(context.run.tags.get("count", "0"))
    return Output(count, data_version=DataVersion(f"{context.partition_key}-{count}"))


@pytest.mark.filterwarnings("ignore:Parameter `data_version`")
def test_latest_per_partition_in_bulk_equals_one_query_per_partition() -> None:
    with DagsterInstance.ephemeral() as instance:
        for count, partition in enumerate(["a", "b", "a", "c", "a", "b"]):
            result = materialize(
                [numbered], instance=instance, partition_key=partition, tags={"count": str(count)}
            )
            assert result.success
        key = AssetKey("numbered")
        bulk = latest_materializations(instance, key, ["a", "b", "c", "d"])
        assert set(bulk) == {"a", "b", "c"}
        for partition, record in bulk.items():
            assert record == latest_materialization(instance, key, partition)
        assert [bulk[p].data_version for p in "abc"] == ["a-4", "b-5", "c-3"]
        assert latest_materializations(instance, key, ["d"]) == {}
