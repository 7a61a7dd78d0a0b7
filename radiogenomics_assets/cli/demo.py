"""`make demo`: materialize the asset graph on the offline demo cohort, then say where it is.

Runs go into the persistent Dagster instance at ``$DAGSTER_HOME``, so `make ui` afterwards shows
every materialization with its lineage and metadata. On an existing store only what is missing
or stale runs (as `make refresh`); ``--rebuild`` materializes everything. Per-patient
partitions run in a small process pool; a patient whose partition fails is reported and the
rest of the cohort goes on.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from radiogenomics_assets.cli.refresh import REBUILD_HINT, exit_code, parser, refresh
from radiogenomics_assets.cli.report import ReportMissingError, report_path
from radiogenomics_assets.defs.instance_config import ensure_dagster_home
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.survival.study_protocol import PROTOCOL_NAMES

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"


TABLE_TITLES = {"1a": "Table 1(a), linear models", "1b": "Table 1(b), neural models"}


def _table1(store: StoreResource) -> str:
    """Both halves of Table 1 under each protocol as printed text, each followed by the demo
    oracle's row, then the fusion gains."""
    texts = []
    with store.read_connection() as conn:
        oracle = (
            conn.sql((SQL_DIR / "select_demo_oracle.sql").read_text()).df()
            if _has_table(conn, "demo_oracle")
            else None
        )
        for protocol in PROTOCOL_NAMES:
            conn.execute("SET VARIABLE protocol = ?", [protocol])
            frame = conn.sql((SQL_DIR / "select_table1.sql").read_text()).df()
            texts += [
                f"{TABLE_TITLES.get(half, half)}, {protocol} protocol:\n"
                + pd.concat([rows.drop(columns=["protocol", "paper_table"]), oracle])
                .fillna({"null_model_folds": ""})  # the oracle has no alpha to select
                .to_string(index=False)
                for half, rows in frame.groupby("paper_table", sort=True)
            ]
            if _has_table(conn, "fusion_gain"):
                gains = conn.sql((SQL_DIR / "select_fusion_gain.sql").read_text()).df()
                if not gains.empty:
                    texts.append(
                        f"Fusion against its best single model, {protocol} protocol:\n"
                        + gains.drop(columns="protocol").to_string(index=False)
                    )
    return "\n\n".join(texts)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    os.environ.setdefault("RADIOGENOMICS_SOURCE", "demo")
    dagster_home = ensure_dagster_home()
    outcomes = refresh(workers=args.workers, rebuild=args.rebuild, models=args.models)
    store = StoreResource()
    if _has_results(store):
        print("\nTable 1, regenerated on the demo cohort (test C-index per fold):\n")
        print(_table1(store))
    if store.store_backend == "ducklake":
        print(f"\nDuckLake store: {store.location}   e.g. make sql FILE=sql/select_table1.sql")
    else:
        database = store.database_path
        example = f"duckdb -readonly {database} < sql/select_table1.sql"
        print(f"\nDuckDB store:  {database}   e.g. {example} (readable while runs write)")
    print(f"File store:    {store.files.root}")
    try:
        print(f"Study report:  {report_path(store)}   (make report prints it again)")
    except ReportMissingError as error:
        print(f"Study report:  {error}")
    print(f"Dagster home:  {dagster_home}")
    print("Open the UI:   make ui   (then http://127.0.0.1:3000)")
    if outcomes:
        print(f"Next time only what is missing or stale runs; {REBUILD_HINT}")
    return exit_code(outcomes)


def _has_results(store: StoreResource) -> bool:
    if store.store_backend == "duckdb" and not store.database_path.exists():
        return False
    with store.read_connection() as conn:
        return _has_table(conn, "results_table")


def _has_table(conn, table: str) -> bool:
    [(found,)] = conn.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'evaluation' AND table_name = ?",
        [table],
    ).fetchall()
    return bool(found)


if __name__ == "__main__":
    sys.exit(main())
