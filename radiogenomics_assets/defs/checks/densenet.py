"""Contract on every model that reads DenseNet features: its block was made by one network.

The models read the study-level ``features/densenet_table``. The check sits on the models that
read the block (registry specs with the ``densenet`` modality), one blocking check per model,
run by one op after the models of a run (Dagster splits that op in two where a checked model
feeds another: the CoxNet late fusions wait for the check of ``cox_d``), so that when it fails,
what follows the model in that run (the fold metrics, a late fusion) does not run. The models
themselves refuse a mixed block when they fit (``features.blocks.densenet_block``); this check
records the weights in the UI and catches a table that changed after a model was fitted.
"""

# No "from __future__ import annotations": Dagster reads these annotations at definition time.

from collections.abc import Iterable

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    MetadataValue,
    multi_asset_check,
)

from radiogenomics_assets.defs.names import FEATURES, MODELING
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.features.blocks import DenseNetWeightsUse, densenet_weights_use
from radiogenomics_assets.store.database import read_table, table_exists
from radiogenomics_assets.survival.registry import MODEL_REGISTRY, ModelSpec

WEIGHTS_CHECK = "same_densenet_weights"
DENSENET_TABLE = "densenet_table"


def densenet_model_keys(specs: Iterable[ModelSpec] = MODEL_REGISTRY) -> list[AssetKey]:
    """The asset keys of the models whose modalities include ``densenet``."""
    return [AssetKey([MODELING, spec.name]) for spec in specs if "densenet" in spec.modalities]


def stored_densenet_weights(store: StoreResource) -> DenseNetWeightsUse | None:
    """The weights of every row of ``features.densenet_table``; None if there is no table.

    Raises:
        FeatureTableError: the table has no ``densenet_weights`` column.
    """
    with store.get_connection() as conn:
        if not table_exists(conn, FEATURES, DENSENET_TABLE):
            return None
        # Every row, as the models read every study patient's row; a store from before the
        # weights were recorded fails naming the missing column.
        rows = read_table(conn, FEATURES, DENSENET_TABLE)
    return densenet_weights_use(rows)


def weights_check_result(key: AssetKey, use: DenseNetWeightsUse | None) -> AssetCheckResult:
    """The check's result for model ``key``: the weights, their patients, and the outliers."""
    if use is None:
        description = f"{FEATURES}.{DENSENET_TABLE} is not materialized"
        passed = False
        weights: dict[str, list[str]] = {}
        outliers: list[str] = []
    else:
        description = use.describe()
        passed = use.consistent
        weights = {w: list(patients) for w, patients in use.patients.items()}
        outliers = list(use.outliers)
    return AssetCheckResult(
        asset_key=key,
        check_name=WEIGHTS_CHECK,
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        description=f"{key.path[-1]}: {description}",
        metadata={
            "densenet_weights": MetadataValue.json(list(weights)),
            "n_patients_per_weights": MetadataValue.json({w: len(p) for w, p in weights.items()}),
            "patients_per_weights": MetadataValue.json(weights),
            "n_offending": len(outliers),
            "offending_ids": MetadataValue.json(outliers),
        },
    )


def build_densenet_weights_checks(
    specs: Iterable[ModelSpec] = MODEL_REGISTRY,
) -> list[AssetChecksDefinition]:
    """One op holding a blocking ``same_densenet_weights`` check per DenseNet-reading model.

    Empty when no spec reads ``densenet`` (a multi-check needs at least one spec).
    """
    keys = densenet_model_keys(specs)
    if not keys:
        return []

    @multi_asset_check(
        specs=[
            AssetCheckSpec(
                WEIGHTS_CHECK,
                asset=key,
                blocking=True,
                additional_deps=[AssetKey([FEATURES, DENSENET_TABLE])],
                description="Blocking: every row of features.densenet_table that the model "
                "reads was made with the same DenseNet weights (the ids per weights in metadata)",
            )
            for key in keys
        ],
        can_subset=True,
        name="densenet_weights_checks",
    )
    def densenet_weights_checks(context: AssetCheckExecutionContext, store: StoreResource):
        # The whole table, read once: every model reads all of it (densenet_block refuses a
        # mixed table whichever patients a fold uses).
        use = stored_densenet_weights(store)
        for check_key in sorted(
            context.selected_asset_check_keys, key=lambda k: k.asset_key.to_user_string()
        ):
            yield weights_check_result(check_key.asset_key, use)

    return [densenet_weights_checks]


densenet_checks = build_densenet_weights_checks()
