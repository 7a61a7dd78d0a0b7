"""What a walk (`make demo`, `make refresh`) must materialize now, as Dagster decides it.

A phase's plan is ``dagster.evaluate_automation_conditions`` over the phase's assets, with the
daemon's own conditions in their on-demand form (``automation.for_walk``): what is missing,
whose last run failed, whose code version changed, or whose inputs' data versions changed
since this phase was last planned. Nothing here compares versions: Dagster's conditions do,
over any number of partitions (its stale status stops comparing partitioned inputs above 100,
so a study table reading 184 patients would never turn stale there).

The evaluation's cursor is the memory of "since last planned". It is kept in the instance's
key-value storage, one per phase and walk scope (``make demo MODELS=linear`` leaves the nets
out, and must not use up their news for a later full walk), and saved only once the phase's
runs are done, so an interrupted walk plans the same again. A scope's first walk starts from
the phase's latest cursor of any scope. The first walk on an instance has no cursor at all: it
sees what is missing or failed, not older changes (``REBUILD=1`` rebuilds everything).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    AssetsDefinition,
    AssetSelection,
    AutomationResult,
    DagsterInstance,
    Definitions,
    deserialize_value,
    evaluate_automation_conditions,
    serialize_value,
)

from radiogenomics_assets.defs.automation import for_walk
from radiogenomics_assets.defs.registration import DATA_VERSION_TAG

CURSOR_PREFIX = "radiogenomics/walk_cursor"
#: The conditions (by label or name) that say why an asset partition is planned, first wins.
REASONS = {
    "missing": "missing",
    "execution_failed": "its last run failed",
    "code_version_changed": "its code version changed",
    "an input's data version changed": "an input's data version changed (or is recomputed now)",
}


@dataclass(frozen=True)
class Planned:
    """One asset partition to materialize, and the reason."""

    key: AssetKey
    partition: str | None
    reason: str

    def line(self) -> str:
        where = f"[{self.partition}]" if self.partition else ""
        return f"{self.key.to_user_string()}{where}: {self.reason}"


@dataclass
class PhasePlan:
    """Per partition, in run order, what must run; and the cursor to keep once it ran."""

    steps: list[tuple[str | None, list[Planned]]]
    cursor_keys: tuple[str, ...]
    cursor: Any = field(repr=False)

    def commit(self, instance: DagsterInstance) -> None:
        """Remember this evaluation: the next plan of the phase sees only what changed since."""
        value = serialize_value(self.cursor)
        instance.run_storage.set_cursor_values(dict.fromkeys(self.cursor_keys, value))


def walk_definitions(defs: Definitions) -> Definitions:
    """``defs``'s assets and resources with the walk's conditions."""
    assets = list(defs.assets or ())
    materialized = [a for a in assets if isinstance(a, AssetsDefinition)]
    others = [a for a in assets if not isinstance(a, AssetsDefinition)]  # the external source
    return Definitions(assets=[*for_walk(materialized), *others], resources=defs.resources)


class WalkPlanner:
    """Plans the phases of one walk over ``defs``; ``scope`` names what the walk leaves out."""

    def __init__(self, defs: Definitions, instance: DagsterInstance, scope: str = "all") -> None:
        self.defs = walk_definitions(defs)
        self.graph = self.defs.resolve_asset_graph()
        self.instance = instance
        self.scope = scope

    def plan(
        self,
        name: str,
        keys: Sequence[AssetKey],
        partitions: Sequence[str | None],
        *,
        force: bool = False,
        forced: Mapping[AssetKey, str] | None = None,
        leave: Callable[[AssetKey, str | None], bool] = lambda _key, _partition: False,
    ) -> PhasePlan:
        """What of ``keys`` must run, per partition in the order of ``partitions``.

        ``force`` plans every key on every partition (a rebuild); ``forced`` adds keys with a
        reason of the caller's (the source changed); ``leave`` drops what the walk skips.
        """
        scope_key, latest_key = (f"{CURSOR_PREFIX}/{s}/{name}" for s in (self.scope, "latest"))
        stored = self.instance.run_storage.get_cursor_values({scope_key, latest_key})
        stored = stored.get(scope_key) or stored.get(latest_key)
        result = evaluate_automation_conditions(
            self.defs,
            self.instance,
            asset_selection=AssetSelection.assets(*keys),
            cursor=deserialize_value(stored) if stored else None,
        )
        reasons: dict[tuple[AssetKey, str | None], str] = {}
        by_key = {r.key: r for r in result.results}
        for key in keys:
            requested = result.get_requested_partitions(key) if key in by_key else set()
            for partition in requested:
                reasons[(key, partition)] = "changed since the last walk"
            if requested:
                _explain(by_key[key], key, requested, reasons)
            for partition in partitions:
                if force:
                    reasons[(key, partition)] = "rebuild requested"
                elif forced and key in forced:
                    reasons.setdefault((key, partition), forced[key])
        order = self.graph.toposorted_asset_keys
        steps = []
        for partition in partitions:
            planned = [
                Planned(key, partition, reasons[(key, partition)])
                for key in order
                if (key, partition) in reasons and not leave(key, partition)
            ]
            if planned:
                steps.append((partition, planned))
        return PhasePlan(steps, (scope_key, latest_key), result.cursor)

    def latest_data_version(self, key: AssetKey) -> str | None:
        """The data version of ``key``'s latest materialization (None when it has none)."""
        records = self.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=key), limit=1
        ).records
        if not records:
            return None
        return records[0].asset_materialization.tags.get(DATA_VERSION_TAG)


def _explain(
    result: AutomationResult,
    key: AssetKey,
    requested: set[str | None],
    reasons: dict[tuple[AssetKey, str | None], str],
) -> None:
    """Name, per requested partition, the first condition of ``REASONS`` that held for it."""
    named: dict[str | None, str] = {}
    for node in _reason_nodes(result):
        reason = REASONS[node.condition.get_label() or node.condition.name]
        for partition in requested & _partitions(node):
            named.setdefault(partition, reason)
    for partition, reason in named.items():
        reasons[(key, partition)] = reason


def _reason_nodes(result: AutomationResult) -> Iterator[AutomationResult]:
    if (result.condition.get_label() or result.condition.name) in REASONS:
        yield result
        return
    for child in result.child_results:
        yield from _reason_nodes(child)


def _partitions(result: AutomationResult) -> set[str | None]:
    value = result.true_subset.get_internal_value()
    if isinstance(value, bool):
        return {None} if value else set()
    return set(result.true_subset.expensively_compute_partition_keys())
