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


def test_loading_reads_no_path(monkeypatch) -> None:
    import importlib

    import radiogenomics_assets.definitions as module

    monkeypatch.setenv("RADIOGENOMICS_SOURCE", "local")
    monkeypatch.setenv("RADIOGENOMICS_HOME", "/nonexistent/path")
    monkeypatch.delenv("RADIOGENOMICS_LOCAL_DICOM", raising=False)
    try:
        importlib.reload(module)  # paths are EnvVars: resolved when a run starts
        assert type(module.defs.resources["source"]).__name__ == "LocalSourceResource"
    finally:
        monkeypatch.undo()
        importlib.reload(module)


def test_loading_names_a_wrong_source_variable(monkeypatch) -> None:
    import importlib

    import radiogenomics_assets.definitions as module

    monkeypatch.setenv("RADIOGENOMICS_SOURCE", "not-a-source")
    try:
        with pytest.raises(ValueError, match="RADIOGENOMICS_SOURCE='not-a-source'"):
            importlib.reload(module)
    finally:
        monkeypatch.undo()
        importlib.reload(module)


@pytest.mark.slow
@pytest.mark.integration
def test_dagsters_own_command_loads_the_module(tmp_path) -> None:
    # `-m` finds the module-level `defs`; with a lazily built one Dagster saw only the jobs
    # and refused: "No repository and more than one job found".
    import subprocess
    import sys

    (tmp_path / "dagster_home").mkdir()
    env = {
        **os.environ,
        "RADIOGENOMICS_SOURCE": "demo",
        "RADIOGENOMICS_DEMO_PATIENTS": "4",
        "RADIOGENOMICS_HOME": str(tmp_path / "home"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    dagster = Path(sys.executable).with_name("dagster")
    command = ["asset", "materialize", "-m", "radiogenomics_assets.definitions"]
    completed = subprocess.run(
        [str(dagster), *command, "--select", "raw/imaging_manifest"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "RUN_SUCCESS" in completed.stderr + completed.stdout
    assert (tmp_path / "home" / "radiogenomics.duckdb").is_file()


def test_the_oracle_belongs_to_the_demos_graph_only() -> None:
    from dagster import AssetKey

    from radiogenomics_assets.definitions import build_definitions
    from radiogenomics_assets.defs.jobs import job_asset_keys
    from radiogenomics_assets.defs.resources.source import DemoSourceResource, TciaSourceResource

    oracle = AssetKey(["evaluation", "demo_oracle"])
    figures = AssetKey(["evaluation", "td_auc_figures"])
    for source, demo in ((DemoSourceResource(), True), (TciaSourceResource(), False)):
        built = build_definitions(source=source)
        graph = built.resolve_asset_graph()
        assert (oracle in graph.get_all_asset_keys()) is demo
        assert (
            AssetKey(["evaluation", "oracle_td_auc_curves"]) in graph.get(figures).parent_keys
        ) is demo
        assert (oracle in job_asset_keys(built, "evaluation_job")) is demo
        built.resolve_job_def("evaluation_job")  # its selection resolves in this graph
