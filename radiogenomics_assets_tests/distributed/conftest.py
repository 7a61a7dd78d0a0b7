"""PostgreSQL (and Redis) on loopback for the distributed tests, one cluster per module."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from radiogenomics_assets_tests.services import Postgres, postgres_server

_databases = itertools.count()


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    with postgres_server() as server:
        yield server


@pytest.fixture
def lake_catalog(postgres: Postgres) -> str:
    """A fresh catalog database for one test's DuckLake (a libpq connection string)."""
    name = f"lake_{next(_databases)}"
    postgres.create_database(name)
    return postgres.dsn(name)
