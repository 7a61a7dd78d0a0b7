"""Which asset partitions are missing or stale, in Dagster's own terms, and why.

Dagster's stale status compares each materialization's recorded code version and input data
versions with the current ones. One gap is filled here: above 100 upstream partitions Dagster
stops comparing partitioned inputs (``SKIP_PARTITION_DATA_VERSION_DEPENDENCY_THRESHOLD``), so
a fold model reading the features of 184 patients would never turn stale when a patient is
added or recomputed. For every fan-in edge (a partitioned input of an asset partitioned
differently, or mapped all-to-one) the same comparison is made here in bulk: an upstream
partition materialized after the input this asset read, with a data version other than the one
it read (or a partition it never read), makes the asset stale.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    Definitions,
    IdentityPartitionMapping,
)
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
from dagster._core.definitions.data_version import (
    CachingStaleStatusResolver,
    StaleStatus,
    extract_data_provenance_from_entry,
    extract_data_version_from_entry,
)
from dagster._time import get_current_datetime

#: Dagster does not export StaleStatus at the top level; tests read it from here.
__all__ = ["Planned", "StaleStatus", "Staleness"]


@dataclass(frozen=True)
class Planned:
    """One asset partition to materialize, and the reason."""

    key: AssetKey
    partition: str | None
    reason: str

    def line(self) -> str:
        where = f"[{self.partition}]" if self.partition else ""
        return f"{self.key.to_user_string()}{where}: {self.reason}"


class Staleness:
    """A snapshot of stale and missing status; make a new one after materializing anything."""

    def __init__(self, defs: Definitions, instance: DagsterInstance) -> None:
        self.graph = defs.resolve_asset_graph()
        self.instance = instance
        view = AssetGraphView(
            temporal_context=TemporalContext(
                effective_dt=get_current_datetime(), last_event_id=None
            ),
            instance=instance,
            asset_graph=self.graph,
        )
        self.resolver = CachingStaleStatusResolver(instance, self.graph, view)

    def status(self, key: AssetKey, partition: str | None = None) -> StaleStatus:
        return self.resolver.get_status(key, partition)

    def reason(self, key: AssetKey, partition: str | None = None) -> str | None:
        """Why ``key[partition]`` must be materialized, or None when it is fresh."""
        status = self.status(key, partition)
        if status == StaleStatus.MISSING:
            return "missing"
        if status == StaleStatus.STALE:
            causes = self.resolver.get_stale_root_causes(key, partition)
            return "; ".join(sorted({_describe(c) for c in causes})) or "stale"
        fan_in = self._fan_in_update(key, partition)
        if fan_in is not None:
            return f"{fan_in.to_user_string()} has partitions with new data versions"
        return None

    def plan(
        self, keys: Iterable[AssetKey], partition: str | None = None, *, force: bool = False
    ) -> list[Planned]:
        """``keys`` (one phase) at ``partition`` that must run, in dependency order.

        An asset whose input in the same plan will be recomputed is planned too: its input is
        about to change. ``force`` plans every asset (a rebuild).
        """
        wanted = set(keys)
        planned: dict[AssetKey, Planned] = {}
        for key in self.graph.toposorted_asset_keys:
            if key not in wanted:
                continue
            reason = "rebuild requested" if force else self.reason(key, partition)
            upstream = [p for p in self.graph.get(key).parent_keys if p in planned]
            if reason is None and upstream:
                reason = f"its input {upstream[0].to_user_string()} is being recomputed"
            if reason is not None:
                planned[key] = Planned(key, partition, reason)
        return list(planned.values())

    def _fan_in_update(self, key: AssetKey, partition: str | None) -> AssetKey | None:
        node = self.graph.get(key)
        provenance = None
        for parent in sorted(node.parent_keys):
            parent_partitions = self.graph.get(parent).partitions_def
            one_to_one = parent_partitions == node.partitions_def and isinstance(
                self.graph.get_partition_mapping(key, parent), IdentityPartitionMapping
            )
            if parent_partitions is None or one_to_one:
                continue  # Dagster's own status covers it
            if provenance is None:
                provenance = self._provenance(key, partition)
                if provenance is None:
                    return None  # never materialized: reported as missing
            read_up_to = provenance.input_storage_ids.get(parent)
            if read_up_to is None:
                # Read before it had any partition: news only once one exists (a linear walk
                # never materializes the nets the evaluation depends on).
                if self._ever_materialized(parent):
                    return parent
            elif self._has_new_version(parent, read_up_to):
                return parent
        return None

    def _ever_materialized(self, key: AssetKey) -> bool:
        return bool(
            self.instance.fetch_materializations(AssetRecordsFilter(asset_key=key), limit=1).records
        )

    def _provenance(self, key: AssetKey, partition: str | None):
        records = self.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None),
            limit=1,
        ).records
        return extract_data_provenance_from_entry(records[0].event_log_entry) if records else None

    def _has_new_version(self, parent: AssetKey, read_up_to: int) -> bool:
        """Whether a partition of ``parent`` materialized after ``read_up_to`` has new content."""
        newer: dict[str, str | None] = {}
        cursor = None
        while True:
            page = self.instance.fetch_materializations(
                AssetRecordsFilter(asset_key=parent, after_storage_id=read_up_to),
                limit=1000,
                cursor=cursor,
            )
            for record in page.records:
                entry = record.event_log_entry
                version = extract_data_version_from_entry(entry)
                newer.setdefault(record.partition_key, version.value if version else None)
            if not page.has_more:
                break
            cursor = page.cursor
        for partition, version in newer.items():
            before = self.instance.fetch_materializations(
                AssetRecordsFilter(
                    asset_key=parent,
                    asset_partitions=[partition],
                    before_storage_id=read_up_to + 1,
                ),
                limit=1,
            ).records
            old = extract_data_version_from_entry(before[0].event_log_entry) if before else None
            if version is None or old is None or old.value != version:
                return True
        return False


def _describe(cause) -> str:
    where = cause.key.asset_key.to_user_string()
    if cause.key.partition_key:
        where += f"[{cause.key.partition_key}]"
    return f"{where} {cause.reason}"
