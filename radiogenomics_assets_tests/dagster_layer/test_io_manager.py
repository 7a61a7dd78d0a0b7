"""The DuckDB IO manager with real Dagster runs on a real DuckDB file under tmp_path."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dagster import (
    AssetIn,
    DagsterInstance,
    DynamicPartitionsDefinition,
    asset,
    materialize,
)

from radiogenomics_assets.defs.resources.io_manager import (
    DuckDBTableIOManager,
    TableNotMaterializedError,
)
from radiogenomics_assets.defs.resources.store import StoreResource

people = DynamicPartitionsDefinition(name="people")


@asset(key_prefix="raw", partitions_def=people, metadata={"partition_expr": "patient_id"})
def scores(context) -> pd.DataFrame:
    n = 1 + len(context.partition_key)
    return pd.DataFrame({"patient_id": [context.partition_key] * n, "score": np.arange(n) * 1.0})


@asset(key_prefix="features", metadata={"column_types": {"vec": "FLOAT[3]"}})
def vectors() -> pd.DataFrame:
    return pd.DataFrame({"patient_id": ["A"], "vec": [np.array([1.0, 2.0, 3.0], np.float32)]})


@asset(key_prefix="cohort", ins={"scores": AssetIn(key=["raw", "scores"])})
def summary(scores: pd.DataFrame) -> pd.DataFrame:
    return scores.groupby("patient_id", as_index=False)["score"].count()


def _resources(tmp_path: Path) -> dict[str, object]:
    store = StoreResource(database=str(tmp_path / "radiogenomics.duckdb"))
    return {"io_manager": DuckDBTableIOManager(store=store)}


def test_partition_reruns_replace_rows_and_downstream_loads_all_partitions(tmp_path: Path) -> None:
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("people", ["A", "BB"])
    resources = _resources(tmp_path)
    for key in ["A", "BB", "A"]:
        assert materialize(
            [scores], partition_key=key, instance=instance, resources=resources
        ).success
    result = materialize(
        [scores, summary], selection=[summary], instance=instance, resources=resources
    )
    counts = dict(result.output_for_node("cohort__summary").itertuples(index=False))
    assert counts == {"A": 2, "BB": 3}


def test_array_column_types_and_row_count_metadata(tmp_path: Path) -> None:
    result = materialize([vectors], resources=_resources(tmp_path))
    materialization = result.asset_materializations_for_node("features__vectors")[0]
    assert materialization.metadata["dagster/row_count"].value == 1
    store = StoreResource(database=str(tmp_path / "radiogenomics.duckdb"))
    with store.get_connection() as conn:
        kind = conn.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_name = 'vectors'"
            " AND column_name = 'vec'"
        ).fetchone()
    assert kind == ("FLOAT[3]",)


def test_missing_upstream_table_is_named(tmp_path: Path) -> None:
    with pytest.raises(TableNotMaterializedError, match=r"raw\.scores is not in"):
        materialize(
            [scores, summary],
            selection=[summary],
            instance=DagsterInstance.ephemeral(),
            resources=_resources(tmp_path),
        )
