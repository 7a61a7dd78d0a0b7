"""Run a file of ``sql/`` against the store and print the result (`make sql FILE=... VARS=...`).

For machines without the ``duckdb`` command-line tool. Variables the files read with
``getvariable('name')`` are set from ``name=value`` arguments, as ``SET VARIABLE`` would.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from radiogenomics_assets.defs.resources.store import StoreResource

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def run_sql_file(store: StoreResource, sql_file: Path, variables: dict[str, str]) -> str:
    """The result of ``sql_file`` on the store (the DuckDB file read-only, or the DuckLake) as
    a text table.

    Raises:
        FileNotFoundError: no DuckDB store yet (run `make demo` first).
        ValueError: a variable name is not a plain identifier.
    """
    with store.read_connection() as conn:
        for name, value in variables.items():
            if not _NAME.fullmatch(name):
                raise ValueError(f"variable name {name!r} is not a plain identifier")
            conn.execute(f"SET VARIABLE {name} = ?", [value])
        frame = conn.execute(sql_file.read_text()).fetchdf()
    return frame.to_string(index=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sql_file", type=Path)
    parser.add_argument("variables", nargs="*", help="name=value, e.g. model=cox_ef_g_d")
    args = parser.parse_args(argv)
    variables = dict(item.split("=", 1) for item in args.variables)
    print(run_sql_file(StoreResource(), args.sql_file, variables))
    return 0


if __name__ == "__main__":
    sys.exit(main())
