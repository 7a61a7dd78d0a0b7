"""A walk's plan is Dagster's automation conditions, remembered between walks: a fan-in edge
from partitions to one table, code versions, failed runs, and an interrupted walk."""

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

from radiogenomics_assets.cli.walk_plan import WalkPlanner

items = DynamicPartitionsDefinition(name="items")
CONTENT: dict[str, str] = {}
INPUT_CHANGED = "an input's data version changed (or is recomputed now)"


def _versioned(value: str) -> Output[str]:
    """An output whose data version is its content (as the product's table outputs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)
        return Output(value, data_version=DataVersion(value))


@asset(partitions_def=items, code_version="1")
def item(context) -> Output[str]:
    if CONTENT[context.partition_key] == "corrupt":
        raise ValueError(f"item {context.partition_key} is corrupt")
    return _versioned(CONTENT[context.partition_key])


@asset(ins={"item": AssetIn()}, code_version="1")
def total(item: dict) -> Output[str]:
    return _versioned(str(sorted(item.items())))


def _plan(
    instance: DagsterInstance,
    assets=(item, total),
    *,
    commit: bool = True,
    leave=(),
    scope: str = "all",
) -> dict:
    """``{(asset, partition): reason}`` of one walk planning every asset, in one phase, and
    leaving the assets ``leave`` names out."""
    planner = WalkPlanner(Definitions(assets=list(assets)), instance, scope)
    keys = [a.key for a in assets]
    plan = planner.plan(
        "all",
        keys,
        [None, *instance.get_dynamic_partitions("items")],
        leave=lambda key, _partition: key.to_user_string() in leave,
    )
    if commit:
        plan.commit(instance)
    return {(p.key.to_user_string(), p.partition): p.reason for _, ps in plan.steps for p in ps}


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as instance:  # disposed: its outputs sit in a temp dir
        instance.add_dynamic_partitions("items", ["a", "b", "c"])
        CONTENT.update(a="1", b="2", c="3")
        assert _plan(instance) == {("item", key): "missing" for key in "abc"} | {
            ("total", None): "missing"
        }
        for key in "abc":
            assert materialize([item], instance=instance, partition_key=key).success
        assert materialize([item, total], instance=instance, selection=[total]).success
        assert _plan(instance) == {}
        yield instance


def test_an_input_partition_with_new_content_plans_the_table(instance) -> None:
    CONTENT["b"] = "changed"
    assert materialize([item], instance=instance, partition_key="b").success

    assert _plan(instance) == {("total", None): INPUT_CHANGED}


def test_a_rerun_with_the_same_content_plans_nothing(instance) -> None:
    assert materialize([item], instance=instance, partition_key="c").success
    assert _plan(instance) == {}


def test_a_new_input_partition_plans_it_then_the_table(instance) -> None:
    instance.add_dynamic_partitions("items", ["d"])
    CONTENT["d"] = "4"
    # Not the table yet: its input partitions run first (a phase of their own in the product).
    assert _plan(instance) == {("item", "d"): "missing"}
    assert materialize([item], instance=instance, partition_key="d").success
    assert _plan(instance) == {("total", None): INPUT_CHANGED}


def test_a_plan_not_committed_is_planned_again(instance) -> None:
    """An interrupted walk: the plan was made, nothing ran, the next walk plans the same."""
    CONTENT["a"] = "changed"
    assert materialize([item], instance=instance, partition_key="a").success
    assert _plan(instance, commit=False) == {("total", None): INPUT_CHANGED}
    assert _plan(instance) == {("total", None): INPUT_CHANGED}
    assert materialize([item, total], instance=instance, selection=[total]).success
    assert _plan(instance) == {}


def test_a_failed_partition_is_planned_until_it_succeeds(instance) -> None:
    CONTENT["b"] = "corrupt"
    failed = materialize([item], instance=instance, partition_key="b", raise_on_error=False)
    assert not failed.success
    assert _plan(instance) == {("item", "b"): "its last run failed"}
    assert _plan(instance) == {("item", "b"): "its last run failed"}
    CONTENT["b"] = "2"
    assert materialize([item], instance=instance, partition_key="b").success
    assert _plan(instance) == {}


@asset(ins={"item": AssetIn()}, code_version="2")
def total_v2(item: dict) -> Output[str]:
    return _versioned(str(sorted(item.items())))


def test_a_new_code_version_plans_the_asset(instance) -> None:
    changed = total_v2.with_attributes(asset_key_replacements={total_v2.key: total.key})
    assert _plan(instance, (item, changed)) == {("total", None): "its code version changed"}


@asset(partitions_def=items, code_version="1")
def optional_item(context) -> Output[str]:
    return _versioned(CONTENT[context.partition_key])


@asset(ins={"item": AssetIn()}, deps=[optional_item], code_version="1")
def report(item: dict) -> Output[str]:
    """Reads ``optional_item`` only where it exists (the evaluation and the nets of a linear
    walk)."""
    return _versioned(str(sorted(item.items())))


def test_an_input_left_out_does_not_hold_back_what_reads_it(instance) -> None:
    assets = [item, optional_item, report]
    planned = _plan(instance, assets)
    assert planned[("report", None)] == "missing"
    assert materialize(assets, instance=instance, selection=[report]).success
    assert _plan(instance, assets) == {("optional_item", key): "missing" for key in "abc"}

    assert materialize(
        assets, instance=instance, selection=[optional_item], partition_key="a"
    ).success
    planned = _plan(instance, assets)
    assert planned[("report", None)] == INPUT_CHANGED


def test_a_change_after_the_tables_own_rerun_is_planned_once_that_rerun_was(instance) -> None:
    """Why a walk commits the plan it makes after its runs (``graph_runner._walk_phase``)."""
    assert materialize([item, total], instance=instance, selection=[total]).success
    assert _plan(instance) == {}  # the plan after the run: the rerun is handled
    CONTENT["a"] = "changed"
    assert materialize([item], instance=instance, partition_key="a").success
    assert _plan(instance) == {("total", None): INPUT_CHANGED}


def test_a_change_beside_an_unplanned_rerun_is_settled_for_the_rerun(instance) -> None:
    """Dagster's side of it: a rerun and an input's change, both new to one evaluation, leave
    the asset handled (were Dagster to change this, the walk's extra plan would be moot)."""
    assert materialize([item, total], instance=instance, selection=[total]).success
    CONTENT["a"] = "changed"
    assert materialize([item], instance=instance, partition_key="a").success
    assert _plan(instance) == {}


@asset(code_version="1")
def net() -> Output[str]:
    return _versioned("weights")


@asset(ins={"item": AssetIn()}, deps=[net], code_version="1")
def metrics(item: dict) -> Output[str]:
    return _versioned(str(sorted(item.items())))


def test_a_missing_input_left_out_does_not_plan_its_readers_again(instance) -> None:
    """A linear walk leaves the nets out: Dagster requests them on every plan (missing), which
    must not make their readers due on every walk."""
    assets = [item, net, metrics]
    linear = {"leave": {"net"}, "scope": "linear"}
    assert _plan(instance, assets, **linear) == {("metrics", None): "missing"}
    assert materialize(assets, instance=instance, selection=[metrics]).success
    assert _plan(instance, assets, **linear) == {}
    assert _plan(instance, assets, **linear) == {}

    assert _plan(instance, assets) == {("net", None): "missing"}
    assert materialize(assets, instance=instance, selection=[net]).success
    assert _plan(instance, assets) == {("metrics", None): INPUT_CHANGED}


def test_a_scopes_first_walk_starts_from_the_latest_plan_of_any_scope(instance) -> None:
    CONTENT["c"] = "changed"
    assert materialize([item], instance=instance, partition_key="c").success
    # `linear` never walked: it starts from the fixture's walk (scope `all`) and sees the change.
    assert _plan(instance, scope="linear", commit=False) == {("total", None): INPUT_CHANGED}
    # Left out by a linear walk, the change is still news to the scope `all`.
    assert _plan(instance, scope="linear", leave={"total"}) == {}
    assert _plan(instance, scope="linear", leave={"total"}) == {}
    assert _plan(instance) == {("total", None): INPUT_CHANGED}
