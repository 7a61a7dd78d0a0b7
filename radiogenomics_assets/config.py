"""Runtime configuration from the environment, read when called and never at import.

``RADIOGENOMICS_HOME`` (default ``./data``) holds ``radiogenomics.duckdb`` and the file store
``files/``; ``RADIOGENOMICS_SOURCE`` picks the data source (``demo`` by default).
``RADIOGENOMICS_STORE=ducklake`` keeps the tables in a DuckLake instead, its catalog in the
PostgreSQL database ``RADIOGENOMICS_DUCKLAKE_CATALOG`` names and its data files under
``$RADIOGENOMICS_HOME/ducklake``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, get_args

SourceName = Literal["demo", "local", "tcia", "idc"]
SOURCE_NAMES: tuple[str, ...] = get_args(SourceName)

StoreBackend = Literal["duckdb", "ducklake"]
STORE_BACKENDS: tuple[str, ...] = get_args(StoreBackend)

HOME_ENV = "RADIOGENOMICS_HOME"
STORE_ENV = "RADIOGENOMICS_STORE"
DUCKLAKE_CATALOG_ENV = "RADIOGENOMICS_DUCKLAKE_CATALOG"
DUCKLAKE_DIR = "ducklake"
SOURCE_ENV = "RADIOGENOMICS_SOURCE"
DATABASE_FILE = "radiogenomics.duckdb"
FILES_DIR = "files"


def radiogenomics_home() -> Path:
    return Path(os.environ.get(HOME_ENV) or "./data").resolve()


def source_name(name: str | None = None) -> SourceName:
    """``name``, else ``$RADIOGENOMICS_SOURCE``, else ``demo``.

    Raises:
        ValueError: the name is not one of :data:`SOURCE_NAMES`.
    """
    where = "source" if name else SOURCE_ENV
    name = (name or os.environ.get(SOURCE_ENV) or "demo").strip().lower()
    if name not in SOURCE_NAMES:
        raise ValueError(f"{where}={name!r} is not one of {', '.join(SOURCE_NAMES)}")
    return name  # type: ignore[return-value]


def store_backend(name: str = "") -> StoreBackend:
    """``name``, else ``$RADIOGENOMICS_STORE``, else ``duckdb``.

    Raises:
        ValueError: the name is not one of :data:`STORE_BACKENDS`.
    """
    name = (name or os.environ.get(STORE_ENV) or "duckdb").strip().lower()
    if name not in STORE_BACKENDS:
        raise ValueError(f"store backend {name!r} is not one of {', '.join(STORE_BACKENDS)}")
    return name  # type: ignore[return-value]


def ducklake_catalog() -> str:
    return os.environ.get(DUCKLAKE_CATALOG_ENV, "").strip()
