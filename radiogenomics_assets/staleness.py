"""Which asset partitions are missing or stale, in Dagster's own terms, and why.

Dagster's stale status compares each materialization's recorded code version and input data
versions with the current ones. One gap is filled here: above 100 upstream partitions Dagster
stops comparing partitioned inputs (``SKIP_PARTITION_DATA_VERSION_DEPENDENCY_THRESHOLD``), so
a fold model reading the features of 184 patients would never turn stale when a patient is
added or recomputed. For such a fan-in edge an asset counts as stale when any upstream
partition was materialized after it, which is what the threshold skips.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, Definitions
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._time import get_current_datetime


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
        self._latest_any_partition: dict[AssetKey, int | None] = {}

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
            return f"{fan_in.to_user_string()} has a partition materialized after it"
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

    def _latest_storage_id(self, key: AssetKey, partition: str | None) -> int | None:
        records = self.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None),
            limit=1,
        ).records
        return records[0].storage_id if records else None

    def _fan_in_update(self, key: AssetKey, partition: str | None) -> AssetKey | None:
        node = self.graph.get(key)
        own = None
        for parent in sorted(node.parent_keys):
            parent_partitions = self.graph.get(parent).partitions_def
            if parent_partitions is None or parent_partitions == node.partitions_def:
                continue  # one-to-one or unpartitioned: Dagster's own status covers it
            if parent not in self._latest_any_partition:
                self._latest_any_partition[parent] = self._latest_storage_id(parent, None)
            latest = self._latest_any_partition[parent]
            own = own if own is not None else self._latest_storage_id(key, partition)
            if latest is not None and own is not None and latest > own:
                return parent
        return None


def _describe(cause) -> str:
    where = cause.key.asset_key.to_user_string()
    if cause.key.partition_key:
        where += f"[{cause.key.partition_key}]"
    return f"{where} {cause.reason}"


def stale_or_missing(
    defs: Definitions,
    instance: DagsterInstance,
    keys: Sequence[AssetKey],
    partitions: Sequence[str | None] = (None,),
) -> dict[tuple[str, str | None], str]:
    """``{(asset, partition): reason}`` for every stale or missing one (tests and reports)."""
    staleness = Staleness(defs, instance)
    return {
        (key.to_user_string(), partition): reason
        for partition in partitions
        for key in keys
        if (reason := staleness.reason(key, partition)) is not None
    }
