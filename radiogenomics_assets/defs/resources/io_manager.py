"""The IO manager that stores every table asset in DuckDB: key prefix = schema, name = table.

Partitioned assets name their partition column in the definition metadata ``partition_expr``
(the dagster-duckdb convention; a multi-partitioned asset maps each dimension to its column, and
a row's key is those columns joined as Dagster joins the dimensions, ``fold_1|paper``); writing
a partition deletes its rows and inserts the new ones in one transaction, so reruns replace
rather than duplicate. ``column_types`` in the definition metadata pins SQL types such as
``FLOAT[1024]`` for array columns.

Raw assets return a :class:`TableWithRejections`: the rows they kept, the records of what they
refused and the files they fetched are stored together. In one transaction, under the store's
writer lock, the rows go into their table, the refusals into ``raw.rejected_records``, one row
per fetched file or series folder into ``raw.stored_files``, and the staged files are renamed to
their content-addressed names (:mod:`radiogenomics_assets.store.publish`) just before the commit;
superseded versions are pruned once it committed. A failed or killed run therefore leaves rows
and files as they were.

On the DuckDB file, each write also notes itself in ``store_snapshot`` (run, asset, partitions,
time), and the output records what publishing the readers' copy cost (``store_published_s``).

Each output also records ``peak_rss_mib``, the process's peak memory since the previous output
(:mod:`radiogenomics_assets.memory`), which ``make profile`` reports per step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import duckdb
import pandas as pd
from dagster import (
    ConfigurableIOManager,
    InputContext,
    MetadataValue,
    OutputContext,
    TableColumn,
    TableSchema,
)

from radiogenomics_assets.defs.names import RAW
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.memory import take_peak
from radiogenomics_assets.store import snapshot
from radiogenomics_assets.store.database import (
    in_transaction,
    read_table,
    write_partition,
    write_table,
)
from radiogenomics_assets.store.publish import Staged

REJECTED_RECORDS = "rejected_records"
STORED_FILES = "stored_files"
#: Columns of ``raw.stored_files``: the file or folder each raw table (partition) was read from.
STORED_FILE_COLUMNS = ("recorded_by", "path", "bytes", "sha256", "source_file")


class TableNotMaterializedError(LookupError):
    """An input table does not exist yet in the store."""


def _schema_and_table(context: OutputContext | InputContext) -> tuple[str, str]:
    path = context.asset_key.path
    if len(path) != 2:
        raise ValueError(f"asset key {path} must be [schema, table] to live in DuckDB")
    return path[0], path[1]


@dataclass(frozen=True)
class TableWithRejections:
    """A raw asset's rows, what its intake refused (:func:`~radiogenomics_assets.sources.
    rejections.rejections_frame`; None: the asset refuses nothing record by record) and the
    staged files they were read from, stored together or not at all."""

    table: pd.DataFrame
    rejections: pd.DataFrame | None = None
    staged: Sequence[Staged] = field(default_factory=tuple)


def recorded_by(context: OutputContext) -> str:
    """The slice of ``raw.rejected_records`` an asset (partition) owns: ``raw/ct_series[p]``."""
    key = context.asset_key.to_user_string()
    if context.has_asset_partitions:
        return f"{key}[{context.asset_partition_key}]"
    return key


def partition_columns(metadata: Mapping[str, object] | None) -> str | list[str]:
    """The column of ``partition_expr``, or one per dimension, in dimension-name order."""
    expr = (metadata or {})["partition_expr"]
    expr = getattr(expr, "value", expr)  # a JSON metadata value holds its dict in ``value``
    if isinstance(expr, Mapping):
        return [str(expr[dimension]) for dimension in sorted(expr)]
    return str(expr)


def table_schema(frame: pd.DataFrame) -> TableSchema:
    return TableSchema(
        columns=[
            TableColumn(name=str(name), type=str(dtype)) for name, dtype in frame.dtypes.items()
        ]
    )


class DuckDBTableIOManager(ConfigurableIOManager):
    """Reads and writes pandas DataFrames as DuckDB tables in the store."""

    store: StoreResource

    def handle_output(
        self, context: OutputContext, obj: pd.DataFrame | TableWithRejections | None
    ) -> None:
        if obj is None:
            return
        rejections, staged = None, ()
        if isinstance(obj, TableWithRejections):
            if obj.rejections is not None:
                rejections = obj.rejections.assign(recorded_by=recorded_by(context))
            obj, staged = obj.table, tuple(obj.staged)
        if not isinstance(obj, pd.DataFrame):
            raise TypeError(f"{context.asset_key.to_user_string()} returned {type(obj).__name__}")
        schema, table = _schema_and_table(context)
        metadata: Mapping[str, object] = context.definition_metadata or {}
        column_types = dict(metadata.get("column_types") or {})
        with self.store.get_connection() as conn:

            def write() -> None:
                self._write_rows(context, conn, obj, rejections, staged, column_types)
                if self.store.store_backend == "duckdb":  # a lake has its own snapshot list
                    snapshot.record_write(
                        conn,
                        run_id=context.run_id,
                        asset=context.asset_key.to_user_string(),
                        partitions=list(context.asset_partition_keys)
                        if context.has_asset_partitions
                        else [],
                    )
                # Last, so that any failure above publishes nothing; a kill between the rename
                # and the commit leaves a complete but unreferenced version, pruned next time.
                for item in staged:
                    item.publish()

            in_transaction(conn, write)
            # Still under the DuckDB writer lock: no other run's rows point here. (A DuckLake
            # has no such lock; Dagster runs one partition at a time, which is what protects it.)
            for item in staged:
                item.prune_superseded()
        if rejections is not None:
            context.add_output_metadata({"n_rejected_records": len(rejections)})
        count_key = (
            "dagster/partition_row_count" if context.has_asset_partitions else "dagster/row_count"
        )
        context.add_output_metadata(
            {
                count_key: len(obj),
                "dagster/column_schema": table_schema(obj),
                "dagster/table_name": f"{schema}.{table}",
                "duckdb_table": MetadataValue.text(f"{schema}.{table}"),
            }
        )
        publication = snapshot.take_publication()
        if publication is not None:
            context.add_output_metadata(
                {
                    "store_published_s": round(publication.seconds, 4),
                    "store_bytes": publication.bytes,
                }
            )
        # Last, so that the figure covers the write too (see memory.py for what it covers).
        peak = take_peak()
        if peak is not None:
            context.add_output_metadata(
                {"peak_rss_mib": round(peak.mib, 1), "peak_rss_scope": peak.scope}
            )

    def _write_rows(
        self,
        context: OutputContext,
        conn: duckdb.DuckDBPyConnection,
        obj: pd.DataFrame,
        rejections: pd.DataFrame | None,
        staged: tuple[Staged, ...],
        column_types: dict[str, str],
    ) -> None:
        """Every row of one output, inside the caller's transaction."""
        schema, table = _schema_and_table(context)
        metadata: Mapping[str, object] = context.definition_metadata or {}
        if context.has_asset_partitions:
            write_partition(
                conn,
                schema,
                table,
                obj,
                partition_column=partition_columns(metadata),
                partition_keys=list(context.asset_partition_keys),
                column_types=column_types,
            )
        else:
            write_table(conn, schema, table, obj, column_types=column_types)
        slices = {"partition_column": "recorded_by", "partition_keys": [recorded_by(context)]}
        if rejections is not None:
            write_partition(
                conn,
                RAW,
                REJECTED_RECORDS,
                rejections,
                **slices,
                column_types=dict.fromkeys(rejections.columns, "VARCHAR"),
            )
        if staged:
            files = pd.DataFrame(
                [(recorded_by(context), i.relpath, i.bytes, i.sha256, i.origin) for i in staged],
                columns=list(STORED_FILE_COLUMNS),
            )
            write_partition(
                conn,
                RAW,
                STORED_FILES,
                files,
                **slices,
                column_types={"bytes": "BIGINT", "source_file": "VARCHAR"},
            )

    def load_input(self, context: InputContext) -> pd.DataFrame:
        schema, table = _schema_and_table(context)
        partition_column: str | list[str] | None = None
        keys = None
        if context.has_asset_partitions:
            upstream = context.upstream_output
            partition_column = partition_columns(upstream.definition_metadata if upstream else None)
            keys = list(context.asset_partition_keys)
        with self.store.get_connection() as conn:
            exists = conn.execute(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema = ? AND table_name = ?",
                [schema, table],
            ).fetchone()
            if not exists or not exists[0]:
                raise TableNotMaterializedError(
                    f"{schema}.{table} is not in {self.store.location}: materialize "
                    f"{context.asset_key.to_user_string()} first"
                )
            return read_table(
                conn, schema, table, partition_column=partition_column, partition_keys=keys
            )
