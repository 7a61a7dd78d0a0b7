"""The daemon's run queue launches at most ``$RADIOGENOMICS_MAX_CONCURRENT_RUNS`` runs at once
(default: the machine's cores), as the instance ``ensure_dagster_home`` writes reads it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance

from radiogenomics_assets.defs.instance_config import RUN_LIMIT_VARIABLE, ensure_dagster_home


def _queue_limit(home: Path) -> int:
    with DagsterInstance.from_config(str(home)) as instance:
        return instance.get_concurrency_config().run_queue_config.max_concurrent_runs


def test_the_queue_launches_as_many_runs_as_there_are_cores(dagster_home: Path) -> None:
    ensure_dagster_home()
    assert _queue_limit(dagster_home) == os.cpu_count()


def test_the_variable_sets_the_queue_limit(
    dagster_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(RUN_LIMIT_VARIABLE, "7")
    ensure_dagster_home()
    assert _queue_limit(dagster_home) == 7


@pytest.mark.parametrize(
    ("queue", "field"),
    [
        ({"run_queue": {"max_concurrent_runs": 5}}, "run_queue.max_concurrent_runs"),
        (
            {
                "run_coordinator": {
                    "module": "dagster.core.run_coordinator",
                    "class": "QueuedRunCoordinator",
                    "config": {"tag_concurrency_limits": [{"key": "team", "limit": 1}]},
                }
            },
            "run_coordinator.config.tag_concurrency_limits",
        ),
    ],
    ids=["run_queue", "run_coordinator"],
)
def test_older_queue_limits_are_refused_naming_the_field_and_the_file_is_kept(
    dagster_home: Path, queue: dict, field: str
) -> None:
    ensure_dagster_home()  # an earlier `make ui` wrote the managed settings
    settings = dagster_home / "dagster.yaml"
    edited = yaml.safe_dump({**yaml.safe_load(settings.read_text()), **queue})
    settings.write_text(edited)

    with pytest.raises(ValueError, match=rf"dagster\.yaml: Dagster refuses {field} beside"):
        ensure_dagster_home()
    assert settings.read_text() == edited
