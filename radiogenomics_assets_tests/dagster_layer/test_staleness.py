"""Staleness across a fan-in edge that Dagster itself stops comparing above 100 partitions."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from dagster import (
    AssetIn,
    BetaWarning,
    DagsterInstance,
    DataVersion,
    Definitions,
    DynamicPartitionsDefinition,
    Output,
    asset,
    materialize,
)
from dagster._core.definitions import data_version as dagster_data_version

from radiogenomics_assets.cli.staleness import Staleness, StaleStatus

items = DynamicPartitionsDefinition(name="items")
CONTENT: dict[str, str] = {}


def _versioned(value: str) -> Output[str]:
    """An output whose data version is its content (as the product's table outputs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)
        return Output(value, data_version=DataVersion(value))


@asset(partitions_def=items, code_version="1")
def item(context) -> Output[str]:
    return _versioned(CONTENT[context.partition_key])


@asset(ins={"item": AssetIn()}, code_version="1")
def total(item: dict) -> Output[str]:
    return _versioned(str(sorted(item.items())))


@pytest.fixture
def instance(monkeypatch) -> Iterator[DagsterInstance]:
    # Dagster skips partitioned inputs with this many partitions or more (100 in production).
    monkeypatch.setattr(dagster_data_version, "SKIP_PARTITION_DATA_VERSION_DEPENDENCY_THRESHOLD", 2)
    with DagsterInstance.ephemeral() as instance:  # disposed: its outputs sit in a temp dir
        instance.add_dynamic_partitions("items", ["a", "b", "c"])
        CONTENT.update(a="1", b="2", c="3")
        for key in "abc":
            assert materialize([item], instance=instance, partition_key=key).success
        assert materialize([item, total], instance=instance, selection=[total]).success
        yield instance


def _reason(instance: DagsterInstance) -> str | None:
    return Staleness(Definitions(assets=[item, total]), instance).reason(total.key)


def test_fresh_after_materializing(instance) -> None:
    assert _reason(instance) is None


def test_an_input_partition_with_new_content_makes_it_stale(instance) -> None:
    CONTENT["b"] = "changed"
    assert materialize([item], instance=instance, partition_key="b").success

    staleness = Staleness(Definitions(assets=[item, total]), instance)
    assert staleness.status(total.key) == StaleStatus.FRESH  # Dagster's own: skipped
    assert _reason(instance) == "item has partitions with new data versions"


def test_a_rerun_with_the_same_content_keeps_it_fresh(instance) -> None:
    assert materialize([item], instance=instance, partition_key="c").success
    assert _reason(instance) is None


def test_a_new_input_partition_makes_it_stale(instance) -> None:
    instance.add_dynamic_partitions("items", ["d"])
    CONTENT["d"] = "4"
    assert materialize([item], instance=instance, partition_key="d").success
    assert _reason(instance) == "item has partitions with new data versions"


@asset(partitions_def=items, code_version="1")
def optional_item(context) -> Output[str]:
    return _versioned(CONTENT[context.partition_key])


@asset(ins={"item": AssetIn()}, deps=[optional_item], code_version="1")
def report(item: dict) -> Output[str]:
    """Reads ``optional_item`` only where it exists (the evaluation and the nets of a linear
    walk)."""
    return _versioned(str(sorted(item.items())))


def test_a_dependency_never_materialized_is_no_news_until_it_is(instance) -> None:
    assets = [item, optional_item, report]
    assert materialize(assets, instance=instance, selection=[report]).success
    staleness = Staleness(Definitions(assets=assets), instance)
    assert staleness.reason(report.key) is None

    assert materialize(
        assets, instance=instance, selection=[optional_item], partition_key="a"
    ).success
    staleness = Staleness(Definitions(assets=assets), instance)
    assert staleness.reason(report.key) == "optional_item has partitions with new data versions"
