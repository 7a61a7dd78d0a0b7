"""Runtime configuration from the environment, read when called and never at import.

``RADIOGENOMICS_HOME`` (default ``./data``) holds ``radiogenomics.duckdb`` and the file store
``files/``; ``RADIOGENOMICS_SOURCE`` picks the data source (``demo`` by default).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, get_args

SourceName = Literal["demo", "local", "tcia", "idc"]
SOURCE_NAMES: tuple[str, ...] = get_args(SourceName)

HOME_ENV = "RADIOGENOMICS_HOME"
SOURCE_ENV = "RADIOGENOMICS_SOURCE"
DATABASE_FILE = "radiogenomics.duckdb"
FILES_DIR = "files"


def radiogenomics_home() -> Path:
    return Path(os.environ.get(HOME_ENV) or "./data").resolve()


def source_name() -> SourceName:
    """The configured source name.

    Raises:
        ValueError: the variable holds a name that is not one of :data:`SOURCE_NAMES`.
    """
    name = (os.environ.get(SOURCE_ENV) or "demo").strip().lower()
    if name not in SOURCE_NAMES:
        raise ValueError(f"{SOURCE_ENV}={name!r} is not one of {', '.join(SOURCE_NAMES)}")
    return name  # type: ignore[return-value]
