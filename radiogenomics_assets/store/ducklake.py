"""The DuckLake store backend: the catalog in PostgreSQL, the data files under a shared path.

Many processes on many machines write one DuckLake at once: each transaction commits a new
snapshot in the catalog, DuckLake retries a commit whose concurrent changes do not conflict
(partition writes of different partitions never do), and a process killed before its commit
leaves only unreferenced data files, never rows. So this backend needs no writer lock. Two races
fail and are run again: two writers creating the same schema or table (the loser's commit, by
:func:`~radiogenomics_assets.store.database.in_transaction`), and two processes attaching a
new catalog at once (the loser's ``ATTACH``, by :func:`_attach`).

The ``ducklake`` and ``postgres`` extensions come from their pip packages
(``duckdb-extension-ducklake``, ``duckdb-extension-postgres``) and are loaded from those files:
nothing is downloaded at run time. DuckDB resolves an extension by its file name, and the
postgres package names its file ``postgres`` while DuckDB expects ``postgres_scanner``, so the
files are linked under the expected names in a directory of this process's user.

Attaching costs about half a second (a catalog round trip and the extension loads), so each
process keeps one in-memory DuckDB with the lake attached and hands out cursors of it: a
cursor is a connection of its own, with its own transactions. The cache is per process id,
because a DuckDB connection must not cross a ``fork``.
"""

from __future__ import annotations

import getpass
import os
import random
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from importlib import import_module
from pathlib import Path

import duckdb

#: The name the lake is attached under (``USE``-d, so ``schema.table`` reaches it).
LAKE = "store"
#: DuckDB's extension name → the pip package that ships it.
EXTENSION_PACKAGES = {
    "ducklake": "duckdb_extension_ducklake",
    "postgres_scanner": "duckdb_extension_postgres",
}

#: How often a process attaches again after losing the race to initialize a new catalog.
INITIALIZATION_ATTEMPTS = 5

_lakes: dict[tuple[int, str, str], duckdb.DuckDBPyConnection] = {}
_lakes_lock = threading.Lock()


class LakeConfigurationError(ValueError):
    """The DuckLake backend is selected without a catalog, or an extension is not installed."""


def extension_file(name: str) -> Path:
    """The extension file the pip package of ``name`` ships for the installed DuckDB.

    Raises:
        LakeConfigurationError: the package is missing or ships no file for this DuckDB.
    """
    package = EXTENSION_PACKAGES[name]
    try:
        module = import_module(package)
    except ImportError as error:
        raise LakeConfigurationError(
            f"{package.replace('_', '-')} is not installed; the DuckLake store loads the "
            f"{name} extension from it"
        ) from error
    version = f"v{duckdb.__version__}"
    files = sorted(
        (Path(module.__file__).parent / "extensions" / version).glob("*.duckdb_extension")
    )
    if len(files) != 1:
        raise LakeConfigurationError(
            f"{package} ships no single extension file for DuckDB {version}: {files}"
        )
    return files[0]


def extension_directory() -> Path:
    """A directory of this user holding each extension under the name DuckDB expects."""
    directory = Path(tempfile.gettempdir()) / f"radiogenomics-duckdb-{getpass.getuser()}"
    directory = directory / f"v{duckdb.__version__}"
    directory.mkdir(parents=True, exist_ok=True)
    for name in EXTENSION_PACKAGES:
        link = directory / f"{name}.duckdb_extension"
        target = extension_file(name)
        if not (link.is_symlink() and link.resolve() == target.resolve()):
            staged = directory / f".{name}.{os.getpid()}"
            staged.unlink(missing_ok=True)
            staged.symlink_to(target)
            staged.replace(link)  # atomic: concurrent processes never see a missing link
    return directory


def attach_statements(catalog: str, data_path: Path | str) -> list[str]:
    """The SQL that loads the extensions and attaches the lake as the default database.

    ``catalog`` is a libpq connection string of the PostgreSQL catalog database (``host=...
    port=... user=... dbname=...``); the same statements work in the ``duckdb`` CLI.
    """
    directory = extension_directory()
    quoted_path = str(Path(data_path)).replace("'", "''")
    quoted_catalog = catalog.replace("'", "''")
    return [
        *(f"LOAD '{directory / name}.duckdb_extension'" for name in EXTENSION_PACKAGES),
        f"ATTACH IF NOT EXISTS 'ducklake:postgres:{quoted_catalog}' AS {LAKE} "
        f"(DATA_PATH '{quoted_path}/')",
        f"USE {LAKE}",
    ]


def _is_initialization_race(error: duckdb.Error) -> bool:
    # PostgreSQL's words when another transaction created the same table first; an unreachable
    # or refused catalog also fails to initialize, and is not retried.
    message = str(error).lower()
    return "failed to initialize ducklake" in message and (
        "already exists" in message or "duplicate key" in message
    )


def _attach(
    catalog: str, data_path: Path, config: Mapping[str, object]
) -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB with the lake attached.

    The first ``ATTACH`` of an empty catalog creates DuckLake's tables in PostgreSQL, in one
    PostgreSQL transaction. Processes that attach a new catalog at once race there: PostgreSQL
    fails every creator but one, whole, and the losers attach again, to the catalog the winner
    committed.
    """
    delay, attempt = 0.1, 0
    while True:
        attempt += 1
        lake = duckdb.connect(config=dict(config))
        try:
            for statement in attach_statements(catalog, data_path):
                lake.execute(statement)
            return lake
        except duckdb.Error as error:
            lake.close()
            if not _is_initialization_race(error) or attempt == INITIALIZATION_ATTEMPTS:
                raise
            time.sleep(delay * (1 + random.random()))
            delay *= 2


def _lake(catalog: str, data_path: Path, config: Mapping[str, object]) -> duckdb.DuckDBPyConnection:
    key = (os.getpid(), catalog, str(data_path))
    with _lakes_lock:
        lake = _lakes.get(key)
        if lake is None:
            data_path.mkdir(parents=True, exist_ok=True)
            lake = _lakes[key] = _attach(catalog, data_path, config)
        return lake


@contextmanager
def connect(
    catalog: str, data_path: Path | str, *, config: Mapping[str, object] | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the lake of ``catalog``, with it as the default database.

    Raises:
        LakeConfigurationError: ``catalog`` is empty or an extension package is missing.
    """
    if not catalog.strip():
        raise LakeConfigurationError(
            "the ducklake store needs a catalog: a PostgreSQL connection string such as "
            "'host=db.example port=5432 user=lab dbname=radiogenomics_lake'"
        )
    cursor = _lake(catalog, Path(data_path).resolve(), config or {}).cursor()
    try:
        cursor.execute(f"USE {LAKE}")
        yield cursor
    finally:
        cursor.close()


def maintain(
    conn: duckdb.DuckDBPyConnection, *, keep_snapshots: timedelta, file_grace: timedelta
) -> dict[str, int]:
    """DuckLake's upkeep, which nothing runs by itself; returns what each step did.

    1. Small writes that DuckLake inlined in the catalog are written out to Parquet, so the
       catalog database does not grow with every partition.
    2. Adjacent small files of a table (one per partition write) are merged.
    3. Snapshots older than ``keep_snapshots`` expire: time travel reaches back that far.
    4. Files that only expired snapshots referenced, and orphaned files (a writer killed before
       its commit leaves some), are deleted once older than ``file_grace``. A younger orphan
       may belong to a transaction still running, and a reader may still scan a file of an
       expired snapshot, so the grace must outlast both.
    """
    steps = {
        "inlined_tables_flushed": f"ducklake_flush_inlined_data('{LAKE}')",
        "files_merged": f"ducklake_merge_adjacent_files('{LAKE}')",
        "snapshots_expired": f"ducklake_expire_snapshots('{LAKE}', older_than => $expire)",
        "old_files_deleted": f"ducklake_cleanup_old_files('{LAKE}', older_than => $files)",
        "orphaned_files_deleted": f"ducklake_delete_orphaned_files('{LAKE}', older_than => $files)",
    }
    ages = {"expire": keep_snapshots, "files": file_grace}
    done = {}
    for name, call in steps.items():
        # Each cutoff is taken when its step starts: files a step before scheduled count too.
        now = datetime.now(UTC)
        cutoffs = {key: now - age for key, age in ages.items() if f"${key}" in call}
        done[name] = len(conn.execute(f"CALL {call}", cutoffs).fetchall())
    return done


def is_lake(conn: duckdb.DuckDBPyConnection) -> bool:
    """Whether the connection's default database is a DuckLake (which has no fixed arrays)."""
    row = conn.execute(
        "SELECT type FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    return bool(row and row[0] == "ducklake")
