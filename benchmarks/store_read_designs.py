"""Three designs for SQL readers beside the pipeline's writers, measured side by side.

Each design runs the same write phase with each reader setting (``--readers``): writers alone
(``none``), beside a polling reader (``poll``), and beside a polling and a held-open reader
(``both``; the held-open one locks the DuckDB file's writers out, so ``poll`` shows what a
polling reader meets while writes go on):

- ``duckdb-file`` (today): writers take the store's fcntl lock and open the one DuckDB file
  read-write; readers open the same file read-only, which DuckDB refuses while a writer holds
  it, and a reader held open locks the writers out (they fail after ``--lock-timeout``).
- ``published-snapshot``: writers go through ``StoreResource.get_connection()``, which writes
  a working file under ``pipeline/`` and publishes a consistent copy at the store's path by
  atomic rename after every write; readers open the published copy.
- ``ducklake-sqlite``: a DuckLake with a SQLite catalog, extensions loaded from their pip
  packages (``duckdb-extension-ducklake``, ``duckdb-extension-sqlite``); writers write at
  once without a lock (a commit SQLite answers "database is locked" is retried and counted),
  readers attach the lake read-only. The catalog runs in WAL mode: in SQLite's default
  rollback journal (``--catalog-journal-mode delete``) readers and writers block each other
  and writes take several times longer.

The workload: a base table of random floats (``--base-mb``, about the demo store's size),
then 2 writer processes replace ``--writes`` partitions of ``--rows`` rows in 4 tables, one
connection and one transaction per write, as the product's assets do. A polling reader opens
a fresh read-only connection every 0.2 s (a ``duckdb -readonly`` call, a notebook cell) and
checks that every partition it sees holds exactly ``--rows`` rows; a held-open reader keeps
one connection through the whole write phase and queries it once a second. A writer gives up
after ``--give-up-after`` failed writes in a row; the writes it left are counted as skipped.

    .venv/bin/python benchmarks/store_read_designs.py [--writes 160] [--rows 50] [--base-mb 28]
        [--lock-timeout 5] [--give-up-after 3] [--designs duckdb-file,ducklake-sqlite]
        [--readers none,poll,both] [--catalog-journal-mode wal|delete]

Prints one table row per design and reader setting, then a ``key=value`` line per design.
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import os
import queue
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import date
from importlib import import_module
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from radiogenomics_assets.store import database  # noqa: E402

DUCKDB_FILE = "duckdb-file"
PUBLISHED_SNAPSHOT = "published-snapshot"
DUCKLAKE_SQLITE = "ducklake-sqlite"
DESIGNS = (DUCKDB_FILE, PUBLISHED_SNAPSHOT, DUCKLAKE_SQLITE)

SCHEMA = "features"
TABLES = 4
#: Partition keys per table: each is replaced ``writes / (TABLES * KEYS_PER_TABLE)`` times.
KEYS_PER_TABLE = 10
FLOAT_COLUMNS = 20
WRITERS = 2
#: Reader setting → the reader processes beside the writers.
READER_SETTINGS = {"none": (), "poll": ("poll",), "both": ("poll", "held")}
SEED_COLUMNS = 10
#: Random doubles take about 7 bytes each on disk (DuckDB's ALP-RD, Parquet alike).
SEED_BYTES_PER_VALUE = 7
POLL_INTERVAL_S = 0.2
HELD_QUERY_INTERVAL_S = 1.0
#: Tries of a lake write whose SQLite catalog was busy (each busy answer is counted).
BUSY_ATTEMPTS = 20

LAKE = "lake"
#: DuckDB's extension name → the pip package that ships it (sqlite's file is named ``sqlite``).
LAKE_EXTENSIONS = {
    "ducklake": "duckdb_extension_ducklake",
    "sqlite_scanner": "duckdb_extension_sqlite",
}
#: Nothing is fetched at run time: the extensions are the linked pip files, loaded by path.
OFFLINE = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


@dataclass(frozen=True)
class Store:
    """One run's store: where it lives and what its processes need to reach it."""

    design: str
    root: Path
    extensions: Path
    rows: int
    lock_timeout_s: float
    catalog_journal_mode: str

    @property
    def database(self) -> Path:
        return self.root / "store.duckdb"

    @property
    def catalog(self) -> Path:
        return self.root / "catalog.sqlite"

    @property
    def data_path(self) -> Path:
        return self.root / "data"


@dataclass
class WriterResult:
    started: float
    finished: float
    latencies_ms: list[float] = field(default_factory=list)
    failed: int = 0
    skipped: int = 0
    busy_retries: int = 0
    first_error: str = ""
    first_busy: str = ""


@dataclass
class ReaderResult:
    role: str
    ok: int = 0
    failed: int = 0
    inconsistent: int = 0
    #: Partitions the reader's last successful query saw (a stale snapshot shows here).
    partitions_seen: int = 0
    first_error: str = ""

    def record_error(self, error: Exception) -> None:
        self.failed += 1
        self.first_error = self.first_error or one_line(error)


@dataclass
class RunResult:
    design: str
    readers_setting: str
    writes: int
    writers: list[WriterResult]
    readers: dict[str, ReaderResult]
    size_mib: float
    files: int


def one_line(error: BaseException, width: int = 150) -> str:
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if len(text) <= width else text[: width - 3] + "..."


def quiet(conn: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """``conn`` without DuckDB's progress bar, which a query waiting seconds for a lock would
    draw over the report (a setting of each connection, not of the database)."""
    conn.execute("SET enable_progress_bar = false")
    return conn


# --- DuckLake ----------------------------------------------------------------------------------


def packaged_extension(package: str) -> Path:
    """The one extension file the pip package ``package`` ships for the installed DuckDB."""
    folder = Path(import_module(package).__file__).parent / "extensions" / f"v{duckdb.__version__}"
    (found,) = folder.glob("*.duckdb_extension")
    return found


def link_lake_extensions(directory: Path) -> None:
    """Link each extension under the file name DuckDB expects (its entry point's name)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, package in LAKE_EXTENSIONS.items():
        (directory / f"{name}.duckdb_extension").symlink_to(packaged_extension(package))


def attach_lake(
    store: Store, *, read_only: bool = False, journal_mode: str | None = None
) -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB with the store's lake attached and in use.

    ``journal_mode`` sets the SQLite catalog's; it stays with the file, so only its creator
    sets it and every other process attaches as a user would, with no catalog options.
    """
    conn = quiet(duckdb.connect(config=OFFLINE))
    try:
        for name in LAKE_EXTENSIONS:
            conn.execute(f"LOAD '{store.extensions / name}.duckdb_extension'")
        options = f"DATA_PATH '{store.data_path}/'"
        options += f", META_JOURNAL_MODE '{journal_mode}'" if journal_mode else ""
        options += ", READ_ONLY" if read_only else ""
        conn.execute(f"ATTACH 'ducklake:sqlite:{store.catalog}' AS {LAKE} ({options})")
        conn.execute(f"USE {LAKE}")
    except BaseException:
        conn.close()
        raise
    return conn


@functools.cache
def writer_lake(store: Store) -> duckdb.DuckDBPyConnection:
    # As the product's DuckLake backend does: attach once per process, a cursor per write.
    return attach_lake(store)


def is_catalog_busy(error: BaseException) -> bool:
    # SQLITE_BUSY, as the sqlite extension words it (after its 5 s busy timeout, or at once
    # where waiting could not help: a WAL snapshot another commit made stale).
    return "database is locked" in str(error).lower()


# --- Connections -------------------------------------------------------------------------------


@contextmanager
def writer_connection(store: Store) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection for one write, opened the way the design's pipeline opens it."""
    if store.design == DUCKDB_FILE:
        with database.connect(store.database, timeout_s=store.lock_timeout_s) as conn:
            yield quiet(conn)
    elif store.design == PUBLISHED_SNAPSHOT:
        # Imported here: dagster's import costs seconds the other designs' processes skip.
        from radiogenomics_assets.defs.resources.store import StoreResource

        resource = StoreResource(database=str(store.database), lock_timeout_s=store.lock_timeout_s)
        with resource.get_connection() as conn:
            yield quiet(conn)
    else:
        with closing(writer_lake(store).cursor()) as conn:
            conn.execute(f"USE {LAKE}")
            yield quiet(conn)


def open_reader(store: Store) -> duckdb.DuckDBPyConnection:
    """A read-only connection, as a ``duckdb -readonly`` session or a notebook opens one."""
    if store.design == DUCKLAKE_SQLITE:
        return attach_lake(store, read_only=True)
    return quiet(duckdb.connect(str(store.database), read_only=True))


# --- Workload ----------------------------------------------------------------------------------


def seed_store(store: Store, base_mb: float) -> None:
    """The base table that gives the store its size (one write, before the timed phase)."""
    rows = int(base_mb * 2**20 / (SEED_BYTES_PER_VALUE * SEED_COLUMNS))
    columns = ", ".join(f"random() AS c{i}" for i in range(SEED_COLUMNS))
    sql = f"CREATE TABLE base AS SELECT {columns} FROM range({rows})"
    if store.design == DUCKLAKE_SQLITE:
        # Not the cached writer lake: the parent must hold no catalog connection during the run.
        with closing(attach_lake(store, journal_mode=store.catalog_journal_mode)) as conn:
            conn.execute(sql)
    else:
        with writer_connection(store) as conn:
            conn.execute(sql)


def write_target(i: int) -> tuple[str, str]:
    """The table and partition key of write ``i``."""
    return f"t{i % TABLES}", f"p{i % (TABLES * KEYS_PER_TABLE)}"


def feature_frame(i: int, rows: int) -> pd.DataFrame:
    values = np.random.default_rng(i).random((rows, FLOAT_COLUMNS))
    frame = pd.DataFrame(values, columns=[f"f{c}" for c in range(FLOAT_COLUMNS)])
    frame.insert(0, "part", write_target(i)[1])
    return frame


def writer_indices(writer: int, writes: int) -> list[int]:
    """Blocks of TABLES writes in turn: both writers write every table, each its own keys."""
    return [i for i in range(writes) if (i // TABLES) % WRITERS == writer]


def write_once(store: Store, i: int, result: WriterResult) -> None:
    """Write partition ``i``, again while the SQLite catalog is busy (counted in ``result``)."""
    table, key = write_target(i)
    frame = feature_frame(i, store.rows)
    for attempt in range(1, BUSY_ATTEMPTS + 1):
        try:
            with writer_connection(store) as conn:
                database.replace_partition(
                    conn, SCHEMA, table, frame, partition_column="part", partition_keys=[key]
                )
            return
        except duckdb.Error as error:
            if store.design != DUCKLAKE_SQLITE or not is_catalog_busy(error):
                raise
            if attempt == BUSY_ATTEMPTS:
                raise
            result.busy_retries += 1
            result.first_busy = result.first_busy or one_line(error)
            time.sleep(0.02 * attempt)


def consistency(conn: duckdb.DuckDBPyConnection, rows: int) -> tuple[int, int]:
    """Partitions visible, and how many of them do not hold exactly ``rows`` rows."""
    tables = conn.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_catalog = current_database() AND table_schema = ? ORDER BY table_name",
        [SCHEMA],
    ).fetchall()
    if not tables:
        return 0, 0
    counts = " UNION ALL ".join(
        f"SELECT part, count(*) AS n FROM {database.qualified(SCHEMA, name)} GROUP BY part"
        for (name,) in tables
    )
    seen, wrong = conn.execute(
        f"SELECT count(*), count(*) FILTER (WHERE n <> ?) FROM ({counts})", [rows]
    ).fetchone()
    return int(seen), int(wrong)


def check_into(result: ReaderResult, conn: duckdb.DuckDBPyConnection, rows: int) -> None:
    seen, wrong = consistency(conn, rows)
    result.partitions_seen = seen
    if wrong:
        result.inconsistent += 1
    else:
        result.ok += 1


# --- Processes (spawned: each opens its own connections) ---------------------------------------


def warm_up_writer(store: Store) -> None:
    """Pay a process's one-off costs before the clock starts: dagster's import, the attach."""
    if store.design == PUBLISHED_SNAPSHOT:
        from radiogenomics_assets.defs.resources.store import StoreResource  # noqa: F401
    elif store.design == DUCKLAKE_SQLITE:
        writer_lake(store)


def run_writer(
    store: Store,
    indices: list[int],
    give_up_after: int,
    ready: Queue,
    go: Event,
    results: Queue,
) -> None:
    warm_up_writer(store)
    ready.put("writer")
    go.wait()
    result = WriterResult(started=time.monotonic(), finished=0.0)
    failed_in_a_row = 0
    for done, i in enumerate(indices, start=1):
        started = time.perf_counter()
        try:
            write_once(store, i, result)
        except (duckdb.Error, database.StoreLockTimeout) as error:
            result.failed += 1
            result.first_error = result.first_error or one_line(error)
            failed_in_a_row += 1
            if failed_in_a_row == give_up_after:
                result.skipped = len(indices) - done
                break
            continue
        failed_in_a_row = 0
        result.latencies_ms.append((time.perf_counter() - started) * 1000)
    result.finished = time.monotonic()
    results.put(result)


def run_polling_reader(store: Store, ready: Queue, go: Event, stop: Event, results: Queue) -> None:
    result = ReaderResult(role="poll")
    ready.put("poll")
    go.wait()
    while not stop.is_set():
        try:
            with closing(open_reader(store)) as conn:
                check_into(result, conn, store.rows)
        except duckdb.Error as error:
            result.record_error(error)
        stop.wait(POLL_INTERVAL_S)
    results.put(result)


def run_held_reader(store: Store, ready: Queue, go: Event, stop: Event, results: Queue) -> None:
    result = ReaderResult(role="held")
    conn = None
    while conn is None and not stop.is_set():
        try:
            conn = open_reader(store)
        except duckdb.Error as error:
            result.record_error(error)
            time.sleep(POLL_INTERVAL_S)
    ready.put("held")
    go.wait()
    while conn is not None and not stop.is_set():
        try:
            check_into(result, conn, store.rows)
        except duckdb.Error as error:
            result.record_error(error)
        stop.wait(HELD_QUERY_INTERVAL_S)
    if conn is not None:
        conn.close()
    results.put(result)


# --- Orchestration -----------------------------------------------------------------------------


READERS = {"poll": run_polling_reader, "held": run_held_reader}


def receive(messages: Queue, count: int, processes: Sequence[BaseProcess]) -> list:
    """``count`` messages, or an error naming the processes that died without sending theirs."""
    received = []
    while len(received) < count:
        try:
            received.append(messages.get(timeout=1.0))
        except queue.Empty:
            dead = [p.name for p in processes if p.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(f"{', '.join(dead)} exited without reporting") from None
    return received


def disk_usage(root: Path) -> tuple[float, int]:
    """MiB and count of every file the store left (lock file, WAL, catalog, data files)."""
    files = [path for path in root.rglob("*") if path.is_file()]
    return sum(path.stat().st_size for path in files) / 2**20, len(files)


def run_once(store: Store, args: argparse.Namespace, readers_setting: str) -> RunResult:
    """Seed the store, then time the write phase beside the setting's readers."""
    store.root.mkdir(parents=True)
    seed_store(store, args.base_mb)
    ctx = multiprocessing.get_context("spawn")
    ready, results = ctx.Queue(), ctx.Queue()
    go, stop = ctx.Event(), ctx.Event()
    writers = [
        ctx.Process(
            target=run_writer,
            args=(store, writer_indices(w, args.writes), args.give_up_after, ready, go, results),
            name=f"writer-{w}",
        )
        for w in range(WRITERS)
    ]
    readers = [
        ctx.Process(target=READERS[role], args=(store, ready, go, stop, results), name=role)
        for role in READER_SETTINGS[readers_setting]
    ]
    processes = readers + writers
    for process in processes:
        process.start()
    try:
        # Everyone imported and connected (the held reader holds its connection) before the clock.
        receive(ready, len(processes), processes)
        go.set()
        writer_results = receive(results, len(writers), writers)
        stop.set()
        reader_results = receive(results, len(readers), readers)
    finally:
        go.set()
        stop.set()
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()
    size_mib, files = disk_usage(store.root)
    return RunResult(
        design=store.design,
        readers_setting=readers_setting,
        writes=args.writes,
        writers=writer_results,
        readers={reader.role: reader for reader in reader_results},
        size_mib=size_mib,
        files=files,
    )


# --- Report ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """A run's numbers, as the table and the summary lines print them."""

    run: RunResult

    @property
    def latencies(self) -> list[float]:
        return [ms for writer in self.run.writers for ms in writer.latencies_ms]

    @property
    def wall_s(self) -> float:
        writers = self.run.writers
        return max(w.finished for w in writers) - min(w.started for w in writers)

    @property
    def mean_ms(self) -> float:
        return float(np.mean(self.latencies)) if self.latencies else float("nan")

    @property
    def p95_ms(self) -> float:
        return float(np.percentile(self.latencies, 95)) if self.latencies else float("nan")

    def writer_total(self, name: str) -> int:
        return sum(getattr(writer, name) for writer in self.run.writers)

    def reader(self, role: str) -> ReaderResult | None:
        return self.run.readers.get(role)

    def reader_total(self, name: str) -> int:
        return sum(getattr(reader, name) for reader in self.run.readers.values())


COLUMNS = [
    # header, width, the value of a row
    ("design", 18, lambda r: r.run.design),
    ("readers", 7, lambda r: r.run.readers_setting),
    ("ok", 4, lambda r: len(r.latencies)),
    ("fail", 4, lambda r: r.writer_total("failed")),
    ("skip", 4, lambda r: r.writer_total("skipped")),
    ("busy", 4, lambda r: r.writer_total("busy_retries")),
    ("wall s", 6, lambda r: f"{r.wall_s:.1f}"),
    ("ms/write", 8, lambda r: f"{r.mean_ms:.0f}"),
    ("p95 ms", 6, lambda r: f"{r.p95_ms:.0f}"),
    ("max ms", 6, lambda r: f"{max(r.latencies, default=float('nan')):.0f}"),
    ("poll ok", 7, lambda r: reader_field(r, "poll", "ok")),
    ("fail", 4, lambda r: reader_field(r, "poll", "failed")),
    ("bad", 3, lambda r: reader_field(r, "poll", "inconsistent")),
    ("saw", 3, lambda r: reader_field(r, "poll", "partitions_seen")),
    ("held ok", 7, lambda r: reader_field(r, "held", "ok")),
    ("fail", 4, lambda r: reader_field(r, "held", "failed")),
    ("bad", 3, lambda r: reader_field(r, "held", "inconsistent")),
    ("saw", 3, lambda r: reader_field(r, "held", "partitions_seen")),
    ("MiB", 5, lambda r: f"{r.run.size_mib:.1f}"),
    ("files", 5, lambda r: r.run.files),
]


def reader_field(row: Row, role: str, name: str) -> object:
    reader = row.reader(role)
    return "-" if reader is None else getattr(reader, name)


def print_table(rows: Sequence[Row]) -> None:
    print(" ".join(f"{header:>{width}}" for header, width, _ in COLUMNS))
    for row in rows:
        print(" ".join(f"{value(row)!s:>{width}}" for _, width, value in COLUMNS))


def summary_line(runs: Sequence[Row]) -> str:
    """One design's numbers over its reader settings: latency per setting, totals of the rest."""
    by_setting = {row.run.readers_setting: row for row in runs}
    first = runs[0]
    fields: dict[str, object] = {"design": first.run.design}
    for setting, row in by_setting.items():
        suffix = "" if setting == "none" else f"_{setting}"
        fields[f"ms_per_write{suffix}"] = f"{row.mean_ms:.1f}"
        fields[f"p95_ms{suffix}"] = f"{row.p95_ms:.1f}"
    for name in ("failed", "skipped", "busy_retries"):
        fields[f"writes_{name}"] = sum(row.writer_total(name) for row in runs)
    if "poll" in by_setting:
        polls = by_setting["poll"].reader("poll")
        fields["poll_failures_while_writing"] = f"{polls.failed}/{polls.ok + polls.failed}"
    for name in ("ok", "failed", "inconsistent"):
        fields[f"reader_{name}"] = sum(row.reader_total(name) for row in runs)
    fields["size_mib"] = f"{first.run.size_mib:.1f}"
    fields["files"] = first.run.files
    return " ".join(f"{key}={value}" for key, value in fields.items())


def first_errors(row: Row) -> list[str]:
    label = f"{row.run.design} (readers: {row.run.readers_setting})"
    errors = [(f"writer-{n}", w.first_error) for n, w in enumerate(row.run.writers)]
    errors += [(f"writer-{n} busy", w.first_busy) for n, w in enumerate(row.run.writers)]
    errors += [(f"{role} reader", r.first_error) for role, r in row.run.readers.items()]
    return [f"{label} {who}: {error}" for who, error in errors if error]


def print_report(runs: Sequence[RunResult]) -> None:
    rows = [Row(run) for run in runs]
    print_table(rows)
    print(
        "\nok/fail/skip: writes (fail: StoreLockTimeout, from a held reader or from the other "
        "writer, as the fcntl lock is polled, not queued; skip: left after a writer gave up); "
        "busy: SQLite catalog busy retries; ms: per write, lock waits included; poll/held: "
        "reader queries ok, failed, inconsistent (bad) and the partitions the last ok query "
        "saw; MiB/files: everything the store left on disk."
    )
    print()
    for design in dict.fromkeys(row.run.design for row in rows):
        print(summary_line([row for row in rows if row.run.design == design]))
    errors = [line for row in rows for line in first_errors(row)]
    if errors:
        print("\nfirst error of each process that met one:")
        print(*errors, sep="\n")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=160, help="partition writes per run")
    parser.add_argument("--rows", type=int, default=50, help="rows per partition")
    parser.add_argument("--base-mb", type=float, default=28.0, help="size of the seeded table")
    parser.add_argument(
        "--lock-timeout", type=float, default=5.0, help="seconds a DuckDB writer waits for a lock"
    )
    parser.add_argument(
        "--give-up-after", type=int, default=3, help="failed writes in a row that stop a writer"
    )
    parser.add_argument(
        "--designs", default=",".join(DESIGNS), help=f"comma-separated subset of {DESIGNS}"
    )
    parser.add_argument(
        "--catalog-journal-mode",
        choices=("wal", "delete"),
        default="wal",
        help="the DuckLake SQLite catalog's journal mode (delete: SQLite's default)",
    )
    parser.add_argument(
        "--readers",
        default=",".join(READER_SETTINGS),
        help=f"comma-separated reader settings, of {tuple(READER_SETTINGS)}",
    )
    args = parser.parse_args(argv)
    args.designs = choices(parser, "designs", args.designs, DESIGNS)
    args.readers = choices(parser, "readers", args.readers, tuple(READER_SETTINGS))
    return args


def choices(
    parser: argparse.ArgumentParser, option: str, value: str, allowed: Sequence[str]
) -> list[str]:
    chosen = [name.strip() for name in value.split(",") if name.strip()]
    unknown = set(chosen) - set(allowed)
    if unknown or not chosen:
        parser.error(f"--{option}: choose from {tuple(allowed)}, not {value!r}")
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    print(f"cores={os.cpu_count()} duckdb={duckdb.__version__} date={date.today().isoformat()}")
    print(
        f"writes={args.writes} writers={WRITERS} rows={args.rows} tables={TABLES} "
        f"base_mb={args.base_mb:g} lock_timeout_s={args.lock_timeout:g} "
        f"give_up_after={args.give_up_after} catalog_journal_mode={args.catalog_journal_mode}\n",
        flush=True,
    )
    runs = []
    with tempfile.TemporaryDirectory(prefix="store-read-designs-", dir="/tmp") as workdir:
        extensions = Path(workdir) / "extensions"
        if DUCKLAKE_SQLITE in args.designs:
            link_lake_extensions(extensions)
        for design in args.designs:
            for readers_setting in args.readers:
                name = f"{design}-readers-{readers_setting}"
                store = Store(
                    design=design,
                    root=Path(workdir) / name,
                    extensions=extensions,
                    rows=args.rows,
                    lock_timeout_s=args.lock_timeout,
                    catalog_journal_mode=args.catalog_journal_mode,
                )
                run = run_once(store, args, readers_setting)
                shutil.rmtree(store.root)
                print(f"  {name}: {Row(run).wall_s:.1f} s", file=sys.stderr, flush=True)
                runs.append(run)
    print_report(runs)
    print(f"\nwhole benchmark: {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
