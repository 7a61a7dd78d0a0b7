"""Prepare ``$DAGSTER_HOME`` so `make demo` and `make ui` share one Dagster instance.

Run history then survives between the two commands: the UI shows the lineage and metadata of
the runs `make demo` made. This module manages four keys of ``dagster.yaml`` and keeps every
other key a user has written there:

- ``telemetry.enabled: false``, because these machines may have no network;
- ``concurrency.pools.granularity: op``: every run claims a slot per step of a pooled asset,
  runs made in-process by `make demo` included (``run`` granularity would be enforced only by
  the UI's run queue, which `make demo` bypasses);
- ``concurrency.pools.default_limit``: the limit of every pool without one of its own; the only
  pool is :data:`~radiogenomics_assets.defs.names.DOWNLOAD_POOL`, which holds one slot per series
  download, so public archives see at most this many downloads at once from the deployment.
- ``concurrency.runs.max_concurrent_runs``: runs the daemon's queue launches at once
  (``$RADIOGENOMICS_MAX_CONCURRENT_RUNS``, default: this machine's cores). Each run is a process
  that computes its steps itself, and automation requests a model run per fold and protocol at
  once: Dagster's own default (10) would start ten torch processes on a two-core machine.
  With the Celery executor a run only hands its steps to the workers; raise the limit there.
  Dagster refuses the older ``run_queue`` (or ``run_coordinator``) limits beside a
  ``concurrency`` key, so a file that sets them is refused with the fields to move.

When ``$RADIOGENOMICS_POSTGRES_URL`` is set, a fifth key, ``storage``, puts the run, event-log
and schedule storage on that PostgreSQL database (dagster-postgres), so that processes on other
machines (Celery workers) share one instance. The file holds the variable's name, not its value:
every process that opens the instance needs the variable. Name the driver in the URL,
``postgresql+psycopg2://user@host:5432/db``: SQLAlchemy 2.1 takes a bare ``postgresql://`` for
psycopg 3, which is not installed. Unset, ``storage`` is left as it is (SQLite under
``$DAGSTER_HOME`` by default).

The download pool is also registered in the instance's storage, so that the UI lists it under
Deployment → Concurrency before the first download. A limit set there (or with
``dagster instance concurrency set``) is the pool's own and takes precedence over the default.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from radiogenomics_assets.config import radiogenomics_home
from radiogenomics_assets.defs.names import DOWNLOAD_POOL

if TYPE_CHECKING:
    from dagster import DagsterInstance

DOWNLOAD_POOL_LIMIT_VARIABLE = "RADIOGENOMICS_DOWNLOAD_POOL_LIMIT"
POSTGRES_URL_VARIABLE = "RADIOGENOMICS_POSTGRES_URL"
RUN_LIMIT_VARIABLE = "RADIOGENOMICS_MAX_CONCURRENT_RUNS"
#: Series downloads in flight at once, across every run on the instance. Small, because TCIA
#: and IDC throttle or ban clients that open many connections; the demo and local sources copy
#: local files and lose little to the same cap.
DEFAULT_DOWNLOAD_POOL_LIMIT = 2


def download_pool_limit() -> int:
    """The download pool limit: ``$RADIOGENOMICS_DOWNLOAD_POOL_LIMIT``, else the default.

    Raises:
        ValueError: the variable is not an integer >= 1.
    """
    return _positive_setting(DOWNLOAD_POOL_LIMIT_VARIABLE, DEFAULT_DOWNLOAD_POOL_LIMIT)


def run_limit() -> int:
    """Runs launched at once: ``$RADIOGENOMICS_MAX_CONCURRENT_RUNS``, else this machine's cores.

    Raises:
        ValueError: the variable is not an integer >= 1.
    """
    return _positive_setting(RUN_LIMIT_VARIABLE, os.cpu_count() or 1)


def _positive_setting(variable: str, default: int) -> int:
    value = os.environ.get(variable, "").strip()
    if not value:
        return default
    try:
        limit = int(value)
    except ValueError as error:
        raise ValueError(f"{variable} must be an integer >= 1, got {value!r}") from error
    if limit < 1:
        raise ValueError(f"{variable} must be an integer >= 1, got {limit}")
    return limit


def postgres_selected() -> bool:
    """Whether ``$RADIOGENOMICS_POSTGRES_URL`` asks for the instance on PostgreSQL."""
    return bool(os.environ.get(POSTGRES_URL_VARIABLE, "").strip())


def managed_settings(pool_limit: int, run_limit: int, postgres: bool = False) -> dict[str, Any]:
    """The keys of ``dagster.yaml`` this module owns, with their values."""
    settings: dict[str, Any] = {
        "telemetry": {"enabled": False},
        "concurrency": {
            "pools": {"granularity": "op", "default_limit": pool_limit},
            "runs": {"max_concurrent_runs": run_limit},
        },
    }
    if postgres:
        # The variable's name, resolved by each process: the URL may hold a password.
        settings["storage"] = {"postgres": {"postgres_url": {"env": POSTGRES_URL_VARIABLE}}}
    return settings


def _merged(current: dict[str, Any], managed: dict[str, Any]) -> dict[str, Any]:
    merged = dict(current)
    for key, value in managed.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


#: Run-queue fields of older Dagster settings, now under ``concurrency.runs``.
_OLD_QUEUE_FIELDS = (
    "max_concurrent_runs",
    "tag_concurrency_limits",
    "block_op_concurrency_limited_runs",
)


def _old_queue_limits(current: dict[str, Any]) -> list[str]:
    coordinator = current.get("run_coordinator")
    sections = {
        "run_queue": current.get("run_queue"),
        "run_coordinator.config": coordinator.get("config")
        if isinstance(coordinator, dict)
        else None,
    }
    return [
        f"{name}.{field}"
        for name, section in sections.items()
        if isinstance(section, dict)
        for field in _OLD_QUEUE_FIELDS
        if field in section
    ]


def write_settings(settings: Path, pool_limit: int, run_limit: int, postgres: bool = False) -> None:
    """Set the managed keys in ``settings``, keeping the others; rewrite only on a change.

    Raises:
        ValueError: the file exists but does not hold a YAML mapping, or sets run-queue limits
            the older way (``run_queue``, ``run_coordinator``).
    """
    current: object = yaml.safe_load(settings.read_text()) if settings.exists() else None
    if current is None:
        current = {}
    if not isinstance(current, dict):
        raise ValueError(
            f"{settings}: expected a YAML mapping of Dagster settings, got {type(current).__name__}"
        )
    old_limits = _old_queue_limits(current)
    if old_limits:
        raise ValueError(
            f"{settings}: Dagster refuses {', '.join(old_limits)} beside the concurrency "
            f"settings this project manages; move them under concurrency.runs (the run limit: "
            f"${RUN_LIMIT_VARIABLE})"
        )
    merged = _merged(current, managed_settings(pool_limit, run_limit, postgres))
    if merged != current or not settings.exists():
        settings.write_text(yaml.safe_dump(merged, sort_keys=False))


def register_download_pool(instance: DagsterInstance) -> None:
    """List the download pool in ``instance`` at the default limit, unless it has its own limit."""
    storage = instance.event_log_storage
    pools = {pool.name: pool for pool in storage.get_pool_limits()}
    current = pools.get(DOWNLOAD_POOL)
    if current is None or (
        current.from_default and current.limit != instance.global_op_concurrency_default_limit
    ):
        storage.initialize_concurrency_limit_to_default(DOWNLOAD_POOL)


def ensure_dagster_home() -> Path:
    """Create ``$DAGSTER_HOME`` (default: ``$RADIOGENOMICS_HOME/dagster_home``) and its settings.

    Raises:
        ValueError: ``$RADIOGENOMICS_DOWNLOAD_POOL_LIMIT`` or
            ``$RADIOGENOMICS_MAX_CONCURRENT_RUNS`` is not an integer >= 1, or an existing
            ``dagster.yaml`` is not a YAML mapping.
    """
    from dagster import DagsterInstance

    pool_limit, runs = download_pool_limit(), run_limit()
    home = Path(os.environ.get("DAGSTER_HOME") or radiogenomics_home() / "dagster_home").resolve()
    os.environ["DAGSTER_HOME"] = str(home)
    home.mkdir(parents=True, exist_ok=True)
    write_settings(home / "dagster.yaml", pool_limit, runs, postgres_selected())
    with DagsterInstance.from_config(str(home)) as instance:
        register_download_pool(instance)
    return home
