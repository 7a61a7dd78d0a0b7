"""Readers of the published store in processes of their own, as users read it during a walk.

``poll`` opens the store read-only every ``interval`` seconds (as a ``duckdb -readonly`` call or
a notebook cell does), checks that the snapshot is whole, and closes it; ``hold`` opens it once
and keeps that connection until told to stop (a CLI session or notebook kernel left open). Each
writes one JSON line per event to its log; :class:`StoreReaders` runs both around a block.

Run as ``python -m radiogenomics_assets_tests.dagster_layer.store_readers MODE DATABASE LOG STOP``.
They import only DuckDB, so they start in a fraction of a second.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Every model's fold partition covers the whole study cohort (a partition written by half, or
#: deleted and not yet written again, would not): one row per partition that does not.
_INCOMPLETE_PARTITIONS = """
SELECT '{table}' AS model_table, fold, protocol, count(DISTINCT patient_id) AS patients
FROM modeling."{table}" GROUP BY fold, protocol
HAVING count(DISTINCT patient_id) <> (SELECT count(*) FROM cohort.study_cohort)
"""


def _model_tables(conn: duckdb.DuckDBPyConnection) -> list[str]:
    rows = conn.execute(
        "SELECT table_name FROM duckdb_columns() WHERE schema_name = 'modeling' "
        "AND column_name = 'risk' ORDER BY table_name"
    ).fetchall()
    return [row[0] for row in rows]


def read_snapshot(conn: duckdb.DuckDBPyConnection) -> dict[str, object]:
    """What one look at a snapshot finds: the write it ends on, models, incomplete partitions."""
    tables = {row[0] for row in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    found: dict[str, object] = {"run_id": None, "committed_at": None, "models": 0}
    if "store_snapshot" in tables:
        run_id, committed_at = conn.execute(
            "SELECT run_id, committed_at::VARCHAR FROM store_snapshot"
        ).fetchone()
        found |= {"run_id": run_id, "committed_at": committed_at}
    models = _model_tables(conn) if "study_cohort" in tables else []
    found["models"] = len(models)
    found["incomplete"] = [
        list(row)
        for table in models
        for row in conn.execute(_INCOMPLETE_PARTITIONS.format(table=table)).fetchall()
    ]
    return found


def _write(log, **event: object) -> None:
    log.write(json.dumps({"t": time.time(), **event}) + "\n")
    log.flush()


def poll(database: Path, log, stop: Path, interval: float) -> None:
    while not stop.exists():
        if database.exists():
            try:
                with duckdb.connect(str(database), read_only=True) as conn:
                    _write(log, ok=True, **read_snapshot(conn))
            except Exception as error:  # recorded for the test to name, not raised
                _write(log, ok=False, error=repr(error))
        time.sleep(interval)


def hold(database: Path, log, stop: Path, interval: float) -> None:
    while not database.exists() and not stop.exists():
        time.sleep(interval)
    if stop.exists():
        return
    inode = database.stat().st_ino
    with duckdb.connect(str(database), read_only=True) as conn:
        _write(log, opened=True, **read_snapshot(conn))
        while not stop.exists():
            try:
                _write(log, ok=True, **read_snapshot(conn))
            except Exception as error:  # recorded for the test to name, not raised
                _write(log, ok=False, error=repr(error))
            time.sleep(interval)
        # Whether the pipeline published newer snapshots while this one stayed open.
        _write(log, closing=True, replaced=database.stat().st_ino != inode)


@dataclass
class ReaderLogs:
    polls: list[dict]
    held: list[dict]


class StoreReaders:
    """A polling reader (every 0.2 s) and a held-open reader of ``database`` around a block."""

    def __init__(self, database: Path, folder: Path) -> None:
        self.database, self.folder = database, folder
        folder.mkdir(parents=True, exist_ok=True)
        self.stop = folder / "stop"
        self.processes: dict[str, subprocess.Popen] = {}

    def __enter__(self) -> StoreReaders:
        for mode, interval in (("poll", 0.2), ("hold", 1.0)):
            self.processes[mode] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    __name__,
                    mode,
                    str(self.database),
                    str(self._log(mode)),
                    str(self.stop),
                    str(interval),
                ],
                cwd=REPO_ROOT,
                env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            )
        return self

    def _log(self, mode: str) -> Path:
        return self.folder / f"{mode}.jsonl"

    def __exit__(self, *_exc: object) -> None:
        self.stop.touch()
        for mode, process in self.processes.items():
            if process.wait(timeout=60) != 0:
                raise RuntimeError(f"the {mode} reader exited with {process.returncode}")

    def logs(self) -> ReaderLogs:
        def read(mode: str) -> list[dict]:
            lines = self._log(mode).read_text().splitlines() if self._log(mode).exists() else []
            return [json.loads(line) for line in lines]

        return ReaderLogs(polls=read("poll"), held=read("hold"))


def main(argv: list[str]) -> int:
    mode, database, log_path, stop, interval = argv
    with open(log_path, "a") as log:
        {"poll": poll, "hold": hold}[mode](Path(database), log, Path(stop), float(interval))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
