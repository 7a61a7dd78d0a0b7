"""The store resource: the DuckDB file and the file store beside it.

It is dagster-duckdb's ``DuckDBResource`` with two changes: an unset ``database`` means
``$RADIOGENOMICS_HOME/radiogenomics.duckdb`` (read when a run uses it, not when the code location
loads), and every connection first takes the store's cross-process lock, so parallel partition
runs under the multiprocess executor queue for the single DuckDB writer instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field

from radiogenomics_assets import config
from radiogenomics_assets.store import database
from radiogenomics_assets.store.files import FileStore


class StoreResource(DuckDBResource):
    """DuckDB database + file store (``files/`` next to the database file)."""

    database: str = Field(
        default="",
        description="Path of the DuckDB file; empty means $RADIOGENOMICS_HOME/radiogenomics.duckdb",
    )
    lock_timeout_s: float = Field(
        default=900.0, description="How long a writer waits for another process's transaction"
    )

    @property
    def database_path(self) -> Path:
        if self.database:
            return Path(self.database).resolve()
        return config.radiogenomics_home() / config.DATABASE_FILE

    @property
    def files(self) -> FileStore:
        return FileStore(self.database_path.parent / config.FILES_DIR)

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        options: dict[str, Any] = {"custom_user_agent": "dagster", **self.connection_config}
        with database.connect(
            self.database_path, timeout_s=self.lock_timeout_s, config=options
        ) as conn:
            yield conn
