"""``$RADIOGENOMICS_POSTGRES_URL`` moves the instance's storage to PostgreSQL in dagster.yaml.

Only the file is checked here (no server); a run on the Postgres instance is in
``distributed/test_celery_run.py``.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from dagster._core.instance.config import dagster_instance_config

from radiogenomics_assets.defs.instance_config import (
    POSTGRES_URL_VARIABLE,
    postgres_selected,
    write_settings,
)

POSTGRES_STORAGE = {"postgres": {"postgres_url": {"env": POSTGRES_URL_VARIABLE}}}


def test_postgres_storage_is_added_and_the_users_keys_kept(tmp_path: Path) -> None:
    settings = tmp_path / "dagster.yaml"
    settings.write_text("retention:\n  schedule:\n    purge_after_days: 90\n")

    write_settings(settings, pool_limit=2, run_limit=2, postgres=True)

    written = yaml.safe_load(settings.read_text())
    assert written == {
        "retention": {"schedule": {"purge_after_days": 90}},
        "telemetry": {"enabled": False},
        "concurrency": {
            "pools": {"granularity": "op", "default_limit": 2},
            "runs": {"max_concurrent_runs": 2},
        },
        "storage": POSTGRES_STORAGE,
    }
    # Dagster's own schema accepts it (validated only: no server is reached).
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["storage"] == POSTGRES_STORAGE


def test_without_the_variable_the_storage_is_left_alone(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(POSTGRES_URL_VARIABLE, raising=False)
    settings = tmp_path / "dagster.yaml"
    write_settings(settings, pool_limit=2, run_limit=2, postgres=postgres_selected())
    assert "storage" not in yaml.safe_load(settings.read_text())

    monkeypatch.setenv(POSTGRES_URL_VARIABLE, "postgresql://u@127.0.0.1:5432/d")
    assert postgres_selected()
