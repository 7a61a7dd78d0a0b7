"""The read snapshot: users query a published copy of the DuckDB file, never the pipeline's own.

DuckDB lets one process hold a file for writing, and refuses a read-only open while it does (and
a write open while a reader has it). So the pipeline keeps its working file to itself, in
``pipeline/`` beside the path users query, and after each connection that changed it (still
under the store's writer lock, so no other write is half done) copies it to a hidden name and
renames the copy over the published path:

- a reader that opens the published path gets one complete, committed snapshot, whatever the
  pipeline is doing, and is never refused: no pipeline process opens that file;
- a reader that keeps it open keeps reading its snapshot (the rename leaves its inode alone), and
  the pipeline never waits for it;
- ``store_snapshot`` in each snapshot says which write it ends on (:func:`record_write`).

What changed is told by DuckDB's write-ahead log, which every commit appends to until the
checkpoint at close. The copy carries the working file's modification time, so a change that
was not published (its connection failed after the commit, or DuckDB checkpointed a large
commit at once) leaves the two times apart, and the next connection of any process publishes it.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

#: The folder beside the published file that holds the pipeline's working file.
WORKING_DIR = "pipeline"
#: The one-row table, in each snapshot, of the last write it includes.
SNAPSHOT_TABLE = "store_snapshot"

_last_publication: Publication | None = None


@dataclass(frozen=True)
class Publication:
    seconds: float
    bytes: int


def working_path(published: Path) -> Path:
    """The pipeline's own DuckDB file for the published path ``published``."""
    return published.parent / WORKING_DIR / published.name


def _wal(database: Path) -> Path:
    return database.with_name(database.name + ".wal")


def has_unsaved_writes(database: Path) -> bool:
    """Whether a commit since the last checkpoint is in the write-ahead log (before closing)."""
    wal = _wal(database)
    return wal.exists() and wal.stat().st_size > 0


def adopt(published: Path, working: Path) -> None:
    """Make a store written before the working file existed the working file (a copy of it).

    Its write-ahead log, left by a process killed mid-run, is replayed into it first. Call under
    the store's writer lock.
    """
    if working.exists() or not published.exists():
        return
    if has_unsaved_writes(published):
        duckdb.connect(str(published)).close()  # replays the log and checkpoints
    working.parent.mkdir(parents=True, exist_ok=True)
    staging = working.with_name(f".{working.name}.{os.getpid()}.adopting")
    shutil.copyfile(published, staging)
    os.replace(staging, working)


def publish(working: Path, published: Path, *, written: bool) -> Publication | None:
    """Copy the closed working file over ``published`` by atomic rename, if it changed.

    ``written``: the connection just closed committed something (:func:`has_unsaved_writes`
    before its close). Otherwise it publishes only if the copy lacks the working file's time.
    Call under the store's writer lock, after the connection closed (and checkpointed).
    """
    global _last_publication
    source = working.stat()
    if not written and published.exists() and published.stat().st_mtime_ns == source.st_mtime_ns:
        return None
    start = time.perf_counter()
    staging = published.with_name(f".{published.name}.{os.getpid()}.publishing")
    try:
        shutil.copyfile(working, staging)
        os.utime(staging, ns=(source.st_atime_ns, source.st_mtime_ns))
        with open(staging, "rb") as handle:
            os.fsync(handle.fileno())  # complete on disk before any reader can open it
        os.replace(staging, published)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    _last_publication = Publication(time.perf_counter() - start, source.st_size)
    return _last_publication


def take_publication() -> Publication | None:
    """The publication since the previous call in this process, if any (for output metadata)."""
    global _last_publication
    publication, _last_publication = _last_publication, None
    return publication


def record_write(
    conn: duckdb.DuckDBPyConnection, *, run_id: str, asset: str, partitions: list[str]
) -> None:
    """Note, inside the write's transaction, that the store now ends on this write."""
    conn.execute(
        f"CREATE OR REPLACE TABLE main.{SNAPSHOT_TABLE} AS SELECT "
        "?::TIMESTAMPTZ AS committed_at, ?::VARCHAR AS run_id, ?::VARCHAR AS asset_key, "
        "?::VARCHAR[] AS partition_keys",
        [datetime.now(UTC), run_id, asset, partitions],
    )
