"""The store resource: the tables (one DuckDB file, or a DuckLake) and the file store beside them.

It is dagster-duckdb's ``DuckDBResource`` with these changes, every setting read when a run uses
it, not when the code location loads:

- ``backend`` ``duckdb`` (the default): an unset ``database`` means
  ``$RADIOGENOMICS_HOME/radiogenomics.duckdb``, the file users query. The pipeline writes its own
  copy in ``pipeline/`` beside it: every connection first takes the store's cross-process lock,
  so parallel partition runs queue for the single DuckDB writer, and one that changed the store
  publishes it to ``database`` on closing (:mod:`radiogenomics_assets.store.snapshot`);
- ``backend`` ``ducklake`` (``$RADIOGENOMICS_STORE=ducklake``): the catalog in PostgreSQL
  (``$RADIOGENOMICS_DUCKLAKE_CATALOG``), the data files under ``data_path`` (default
  ``$RADIOGENOMICS_HOME/ducklake``) on a path every worker shares; many writers, no lock.

The file store ``files/`` sits beside the DuckDB file, or beside the DuckLake data folder.
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
from radiogenomics_assets.store import database, ducklake, snapshot
from radiogenomics_assets.store.files import FileStore


class StoreResource(DuckDBResource):
    """DuckDB database or DuckLake + file store (``files/`` beside them)."""

    backend: str = Field(
        default="", description="duckdb or ducklake; empty means $RADIOGENOMICS_STORE, else duckdb"
    )
    ducklake_catalog: str = Field(
        default="",
        description="libpq connection string of the DuckLake catalog database; empty means "
        "$RADIOGENOMICS_DUCKLAKE_CATALOG",
    )
    data_path: str = Field(
        default="",
        description="DuckLake data files (a path every worker shares); empty means "
        "$RADIOGENOMICS_HOME/ducklake",
    )
    database: str = Field(
        default="",
        description="Path of the DuckDB file users query (the pipeline writes pipeline/<name> "
        "beside it); empty means $RADIOGENOMICS_HOME/radiogenomics.duckdb",
    )
    lock_timeout_s: float = Field(
        default=900.0, description="How long a writer waits for another process's transaction"
    )

    @property
    def store_backend(self) -> config.StoreBackend:
        return config.store_backend(self.backend)

    @property
    def database_path(self) -> Path:
        if self.database:
            return Path(self.database).resolve()
        return config.radiogenomics_home() / config.DATABASE_FILE

    @property
    def working_path(self) -> Path:
        """The pipeline's own DuckDB file, which only the pipeline opens."""
        return snapshot.working_path(self.database_path)

    @property
    def lake_data_path(self) -> Path:
        if self.data_path:
            return Path(self.data_path).resolve()
        return config.radiogenomics_home() / config.DUCKLAKE_DIR

    @property
    def lake_catalog(self) -> str:
        return self.ducklake_catalog or config.ducklake_catalog()

    @property
    def location(self) -> str:
        """Where the tables are, for messages."""
        if self.store_backend == "ducklake":
            return f"the DuckLake of {self.lake_catalog!r} (data {self.lake_data_path})"
        return str(self.database_path)

    @property
    def files(self) -> FileStore:
        beside = self.lake_data_path if self.store_backend == "ducklake" else self.database_path
        return FileStore(beside.parent / config.FILES_DIR)

    @contextmanager
    def read_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for queries: the published snapshot read-only (never refused, never
        in the pipeline's way), or the lake.

        Raises:
            FileNotFoundError: nothing was published yet.
        """
        if self.store_backend == "ducklake":
            with self.get_connection() as conn:
                yield conn
            return
        if not self.database_path.exists():
            raise FileNotFoundError(
                f"no store at {self.database_path}: materialize the assets first (make demo)"
            )
        with duckdb.connect(str(self.database_path), read_only=True) as conn:
            yield conn

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        options: dict[str, Any] = {"custom_user_agent": "dagster", **self.connection_config}
        if self.store_backend == "ducklake":
            with ducklake.connect(self.lake_catalog, self.lake_data_path, config=options) as conn:
                yield conn
            return
        with database.connect(
            self.working_path,
            timeout_s=self.lock_timeout_s,
            config=options,
            publish_to=self.database_path,
        ) as conn:
            yield conn
