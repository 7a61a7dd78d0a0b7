"""The graph walked on one small demo cohort embedded and distributed (``walks``): every asset
materialized, steps on both workers, and the same results to the last digit."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from radiogenomics_assets.definitions import build_definitions
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.store.snapshot import SNAPSHOT_TABLE
from radiogenomics_assets_tests.conftest import REPO_ROOT
from radiogenomics_assets_tests.distributed.walks import WORKERS, Walk, overhead_per_step, walk_both

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module")
def walks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Walk, Walk]]:
    with walk_both(tmp_path_factory.mktemp("walks")) as (embedded, distributed):
        print(
            f"\nembedded: {embedded.seconds:.1f} s, {embedded.steps} steps; "
            f"distributed (2 Celery workers): {distributed.seconds:.1f} s, {distributed.steps} "
            f"steps; overhead {overhead_per_step(embedded, distributed):.2f} s per step"
        )
        yield embedded, distributed


def test_every_run_succeeds_and_every_asset_is_materialized_once(
    walks: tuple[Walk, Walk],
) -> None:
    embedded, distributed = walks
    for each in walks:
        assert [o.line() for o in each.outcomes if not o.success] == []
    assert set(distributed.materialized) == set(embedded.materialized)
    assert {k: n for k, n in distributed.materialized.items() if n != 1} == {}


def test_both_workers_ran_patient_steps(walks: tuple[Walk, Walk]) -> None:
    _, distributed = walks
    assert {name.split("@")[0] for name in distributed.patient_workers} == set(WORKERS)


def test_table1_is_identical(walks: tuple[Walk, Walk]) -> None:
    embedded, distributed = walks
    order = "ORDER BY protocol, model"
    pd.testing.assert_frame_equal(
        distributed.query(f"SELECT * FROM evaluation.results_table {order}"),
        embedded.query(f"SELECT * FROM evaluation.results_table {order}"),
        check_exact=True,
    )
    table1 = (REPO_ROOT / "sql" / "select_table1.sql").read_text()
    pd.testing.assert_frame_equal(
        distributed.query(table1), embedded.query(table1), check_exact=True
    )


def test_no_partition_row_is_lost_or_duplicated(walks: tuple[Walk, Walk]) -> None:
    embedded, distributed = walks
    graph = build_definitions(store=StoreResource()).resolve_asset_graph()
    tables_sql = (
        "SELECT table_schema || '.' || table_name AS t FROM information_schema.tables "
        "WHERE table_catalog = current_database()"  # not DuckLake's own metadata tables
    )
    # The DuckDB file notes its last write for readers of its copy; a lake lists its snapshots.
    tables = set(embedded.query(tables_sql)["t"]) - {f"main.{SNAPSHOT_TABLE}"}
    assert set(distributed.query(tables_sql)["t"]) == tables
    compared = 0
    for key in graph.get_all_asset_keys():
        expr = graph.get(key).assets_def.metadata_by_key.get(key, {}).get("partition_expr")
        if expr is None or ".".join(key.path) not in tables:  # the nets of a linear walk
            continue
        columns = ", ".join([expr] if isinstance(expr, str) else list(expr.values()))
        table = ".".join(key.path)
        sql = f"SELECT {columns}, count(*) AS n FROM {table} GROUP BY ALL ORDER BY ALL"
        pd.testing.assert_frame_equal(distributed.query(sql), embedded.query(sql))
        compared += 1
    assert compared > 0
