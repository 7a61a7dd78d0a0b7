"""What each DICOM file's header said, kept until the file changes.

The imaging manifest is built from the header of every file under the DICOM root: on the
200-patient demo that is 7,000 files and most of an ingest, and `make refresh` builds it twice
(once to compare the source with the stored tables, once in the ingest run). Between two scans
nearly every file is unchanged, so a file's outcome (the header fields a scan keeps, or why the
file was refused) is kept in a SQLite file beside the source's other cached files, under the
file's path below the DICOM root and its stat signature: device, inode, size and modification
time in nanoseconds. A file written again, replaced or moved in has a new signature and is read
again. The change time is left out on purpose: hard-linking a file (the demo links its series
into the store) changes it without changing a byte.

The cache file's name holds a digest of the reader: the modules that turn a header into an
outcome, and pydicom's version. A changed reader starts a new file and removes the old ones,
so an outcome is never reused by code that would decide differently. A cache that cannot be
read is rebuilt; it never decides anything a fresh read would not.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Mapping
from contextlib import suppress
from functools import cache
from importlib.metadata import version
from pathlib import Path
from types import TracebackType
from typing import Any

from radiogenomics_assets.dicom import headers

#: The folder, under a source's cache, that holds its header caches.
HEADER_CACHE_DIR = "dicom_headers"

#: A file's outcome: the fields of a kept instance, or ``{"refused": reason}``.
Outcome = Mapping[str, Any]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS headers "
    "(name TEXT PRIMARY KEY, signature TEXT NOT NULL, outcome TEXT NOT NULL)"
)


@cache  # the demo source builds a LocalSource per call; the reader does not change in a process
def reader_digest() -> str:
    """A digest of the code that reads a header into an outcome."""
    digest = hashlib.sha256(version("pydicom").encode())
    # dicom_tree imports this module, so it is named by its file rather than imported.
    for path in (Path(headers.__file__ or ""), Path(__file__).with_name("dicom_tree.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def file_signature(stat: os.stat_result) -> str:
    """What must stay the same for a file's cached outcome to hold."""
    return f"{stat.st_dev}:{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}"


class HeaderCache:
    """Outcomes of header reads in ``folder``; use as a context manager around one scan.

    New outcomes are written when the block ends without an error, in one transaction.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / f"headers-{reader_digest()}.sqlite"
        self._conn: sqlite3.Connection | None = None
        self._new: list[tuple[str, str, str]] = []

    def __enter__(self) -> HeaderCache:
        self.folder.mkdir(parents=True, exist_ok=True)
        for stale in self.folder.glob("headers-*.sqlite*"):
            if not stale.name.startswith(self.path.name):
                stale.unlink(missing_ok=True)  # written by another reader
        try:
            self._conn = self._open()
        except sqlite3.DatabaseError:  # not a database (a torn or foreign file): start over
            self.path.unlink(missing_ok=True)
            self._conn = self._open()
        return self

    def _open(self) -> sqlite3.Connection:
        # Patient runs in parallel processes share the file; a writer waits for the other.
        conn = sqlite3.connect(self.path, timeout=60)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(_SCHEMA)
        return conn

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            # A cache that cannot take the new outcomes (locked past the timeout, disk full)
            # costs the next scan their reads; it must not fail a scan that is complete.
            with suppress(sqlite3.Error):
                if kind is None and self._new:
                    with conn:
                        conn.executemany(
                            "INSERT OR REPLACE INTO headers VALUES (?, ?, ?)", self._new
                        )
        finally:
            self._new = []
            conn.close()

    def get(self, name: str, signature: str) -> Outcome | None:
        """The outcome kept for ``name`` if its signature is still ``signature``."""
        row = (
            self._connection()
            .execute(
                "SELECT outcome FROM headers WHERE name = ? AND signature = ?", (name, signature)
            )
            .fetchone()
        )
        return json.loads(row[0]) if row else None

    def put(self, name: str, signature: str, outcome: Outcome) -> None:
        self._new.append((name, signature, json.dumps(dict(outcome), sort_keys=True)))

    def forget_all_but(self, names: Iterable[str]) -> None:
        """Drop the outcomes of files not in ``names`` (after a scan of the whole root)."""
        conn = self._connection()
        with suppress(sqlite3.Error), conn:  # kept rows of gone files are only unused
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS seen (name TEXT PRIMARY KEY)")
            conn.execute("DELETE FROM seen")
            conn.executemany("INSERT OR IGNORE INTO seen VALUES (?)", ((n,) for n in names))
            conn.execute("DELETE FROM headers WHERE name NOT IN (SELECT name FROM seen)")

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("use HeaderCache as a context manager")
        return self._conn
