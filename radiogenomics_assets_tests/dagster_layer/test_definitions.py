"""The code location loads, and its asset graph matches the reviewed snapshot.

A change to asset keys, groups, partitions, automation conditions or jobs must update
``asset_graph.json`` on purpose: run with ``UPDATE_SNAPSHOTS=1`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from dagster import MultiPartitionsDefinition, PartitionsDefinition

from radiogenomics_assets.definitions import defs

SNAPSHOT = Path(__file__).with_name("asset_graph.json")


def _partitions(partitions: PartitionsDefinition | None) -> object:
    """A dynamic set's name, a static set's keys, a multi-partition's dimensions."""
    if partitions is None:
        return None
    if isinstance(partitions, MultiPartitionsDefinition):
        return {d.name: _partitions(d.partitions_def) for d in partitions.partitions_defs}
    return getattr(partitions, "name", None) or sorted(partitions.get_partition_keys())


def _graph_summary() -> dict[str, object]:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        partitions = node.partitions_def
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "partitions": _partitions(partitions),
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "automation": node.automation_condition.get_label()
            if node.automation_condition
            else None,
        }
    checks = sorted(k.to_user_string() for k in graph.asset_check_keys)
    jobs = sorted(job.name for job in defs.resolve_all_job_defs() if not job.name.startswith("__"))
    return {"assets": assets, "checks": checks, "jobs": jobs}


def test_asset_graph_matches_snapshot() -> None:
    summary = _graph_summary()
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(summary, indent=2) + "\n")
    assert summary == json.loads(SNAPSHOT.read_text())


def test_every_asset_lives_in_a_schema_named_by_its_group() -> None:
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        assert len(key.path) == 2, key
        assert key.path[0] == graph.get(key).group_name, key


def test_importing_reads_no_environment(monkeypatch) -> None:
    import importlib

    import radiogenomics_assets.definitions as module

    monkeypatch.setenv("RADIOGENOMICS_SOURCE", "not-a-source")
    monkeypatch.setenv("RADIOGENOMICS_HOME", "/nonexistent/path")
    importlib.reload(module)  # would raise if the source were chosen at import
    monkeypatch.setenv("RADIOGENOMICS_SOURCE", "demo")
    assert module.defs.resources["source"] is not None  # built on access; the home is not read


def test_loading_names_a_wrong_source_variable(monkeypatch) -> None:
    import importlib

    import radiogenomics_assets.definitions as module

    monkeypatch.setenv("RADIOGENOMICS_SOURCE", "not-a-source")
    importlib.reload(module)
    with pytest.raises(ValueError, match="RADIOGENOMICS_SOURCE='not-a-source'"):
        module.defs  # noqa: B018 - the access is what loads the code location
