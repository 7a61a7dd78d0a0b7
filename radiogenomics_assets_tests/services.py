"""PostgreSQL and Redis from the machine's Debian packages, started on loopback for one test.

Each server keeps its data under a temporary directory, listens on 127.0.0.1 at a free port
(PostgreSQL also on a Unix socket there) and is stopped when the context exits. PostgreSQL
refuses to run as root, so under root the data directory is handed to the ``postgres`` system
user the package creates. A machine without the packages skips the test with the install line.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

POSTGRES_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
INSTALL_HINT = "apt-get install -y postgresql redis-server"
#: The role and database the tests use (trust authentication on loopback only).
PG_USER = "radiogenomics"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str

    def dsn(self, database: str) -> str:
        """A libpq key/value connection string (DuckDB's postgres extension reads these)."""
        return f"host={self.host} port={self.port} user={self.user} dbname={database}"

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        binary = POSTGRES_BIN[-1] / "createdb"
        command = [str(binary), "-h", self.host, "-p", str(self.port), "-U", self.user, name]
        subprocess.run(command, check=True, capture_output=True)


@contextmanager
def postgres_server() -> Iterator[Postgres]:
    """A throwaway PostgreSQL cluster, trust auth on 127.0.0.1 only.

    Its directory is its own under the system temp dir: pytest's are private to the user
    running the tests, which the ``postgres`` user (under root) could not enter.
    """
    if not POSTGRES_BIN:
        pytest.skip(f"PostgreSQL is not installed ({INSTALL_HINT})")
    bin_dir = POSTGRES_BIN[-1]
    root = Path(tempfile.mkdtemp(prefix="radiogenomics-postgres-"))
    data = root / "pgdata"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    port = free_port()
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", PG_USER]
    subprocess.run(_as_postgres_user(initdb), check=True, capture_output=True)
    options = f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off -c max_connections=200"
    pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log")]
    subprocess.run(
        _as_postgres_user([*pg_ctl, "-o", options, "-w", "start"]), check=True, capture_output=True
    )
    try:
        yield Postgres("127.0.0.1", port, PG_USER)
    finally:
        subprocess.run(
            _as_postgres_user([*pg_ctl, "-m", "fast", "-w", "stop"]), capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def redis_server(root: Path) -> Iterator[str]:
    """A throwaway Redis on 127.0.0.1 without persistence; yields its ``redis://`` URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip(f"Redis is not installed ({INSTALL_HINT})")
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    with open(root / "redis.log", "w") as log:  # the server keeps its own descriptor
        server = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--dir", str(root)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log = root / "redis.log"
                    raise RuntimeError(f"redis-server did not start: see {log}") from None
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=30)
