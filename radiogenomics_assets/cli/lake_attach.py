"""Print the statements a `duckdb` 1.5.5 session runs to query the configured DuckLake store.

.venv/bin/python -m radiogenomics_assets.cli.lake_attach > attach.sql
"""

from __future__ import annotations

from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.store.ducklake import attach_statements


def main() -> None:
    store = StoreResource()
    print(";\n".join(attach_statements(store.lake_catalog, store.lake_data_path)) + ";")


if __name__ == "__main__":
    main()
