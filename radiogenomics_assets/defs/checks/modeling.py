"""Contracts on the fold splits: every split of every fold must hold an event."""

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, AssetKey, MetadataValue, asset_check

from radiogenomics_assets.defs.names import MODELING
from radiogenomics_assets.survival.splits import SPLITS, split_event_counts


@asset_check(asset=AssetKey([MODELING, "fold_splits"]), blocking=True)
def every_split_has_events(fold_splits: pd.DataFrame) -> AssetCheckResult:
    """Blocking: a split without events gives no comparable pairs and no C-index."""
    counts = split_event_counts(fold_splits)
    present = {(row.fold, row.split): int(row.n_events) for row in counts.itertuples()}
    folds = sorted(fold_splits["fold"].unique())
    empty = [
        f"{fold}/{split}"
        for fold in folds
        for split in SPLITS
        if present.get((fold, split), 0) == 0
    ]
    return AssetCheckResult(
        passed=not empty,
        severity=AssetCheckSeverity.ERROR,
        description="every split holds at least one event"
        if not empty
        else f"splits without events: {empty}",
        metadata={
            "splits_without_events": MetadataValue.json(empty),
            "events_per_split": MetadataValue.json(
                {f"{f}/{s}": n for (f, s), n in present.items()}
            ),
        },
    )


modeling_checks = [every_split_has_events]
