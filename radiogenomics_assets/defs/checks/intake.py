"""WARN checks that fail while a raw asset's intake has refused anything, and name what.

The rows themselves are in ``raw.rejected_records``; the check puts them in front of the user in
the UI, on the asset that refused them.
"""

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    asset_check,
)

from radiogenomics_assets.defs.assets.outputs import markdown_table
from radiogenomics_assets.defs.names import RAW
from radiogenomics_assets.defs.resources.io_manager import REJECTED_RECORDS
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.store.database import table_exists

#: The raw assets whose intake can refuse records (partitioned ones are checked per patient).
INTAKE_ASSETS = ("clinical_labels", "rnaseq_expression", "imaging_manifest")
_SHOWN = 20


def refused_records(store: StoreResource, asset: str) -> pd.DataFrame:
    """The records ``raw/<asset>`` (any partition of it) refused at its last materialization."""
    with store.get_connection() as conn:
        if not table_exists(conn, RAW, REJECTED_RECORDS):
            return pd.DataFrame()
        return conn.execute(
            f"SELECT * FROM {RAW}.{REJECTED_RECORDS} "
            "WHERE recorded_by = ? OR recorded_by LIKE ? ORDER BY recorded_by, location",
            [f"{RAW}/{asset}", f"{RAW}/{asset}[%"],
        ).fetchdf()


def _nothing_refused(asset: str) -> AssetChecksDefinition:
    @asset_check(
        asset=AssetKey([RAW, asset]),
        name="nothing_refused",
        description=f"Fails (WARN) while raw.{REJECTED_RECORDS} holds records refused by the "
        f"intake of raw/{asset}; lists them.",
    )
    def _check(store: StoreResource) -> AssetCheckResult:
        refused = refused_records(store, asset)
        if refused.empty:
            return AssetCheckResult(passed=True, description="nothing refused")
        lines = [
            f"{row.source_file} {row.location}: {row.reason}"
            for row in refused.head(_SHOWN).itertuples()
        ]
        more = f" (and {len(refused) - _SHOWN} more)" if len(refused) > _SHOWN else ""
        return AssetCheckResult(
            passed=False,
            severity=AssetCheckSeverity.WARN,
            description=f"{len(refused)} record(s) refused{more}: " + "; ".join(lines),
            metadata={
                "n_refused": len(refused),
                "by_kind": MetadataValue.json(refused["kind"].value_counts().to_dict()),
                "refused": markdown_table(
                    refused[["kind", "source_file", "location", "patient_id", "reason"]],
                    max_rows=_SHOWN,
                ),
                "query": MetadataValue.text(
                    f"SELECT * FROM {RAW}.{REJECTED_RECORDS} WHERE recorded_by LIKE "
                    f"'{RAW}/{asset}%'"
                ),
            },
        )

    return _check


intake_checks = [_nothing_refused(asset) for asset in INTAKE_ASSETS]
