"""Partition sets: one dynamic partition per imaged patient; per study protocol and CV fold.

Fold assets are partitioned two ways at once: by ``protocol`` (``paper`` or ``recommended``,
:mod:`~radiogenomics_assets.survival.study_protocol`) and by ``fold``, one key per fold of each
repeat of the cross-validation (``fold_1`` … ``fold_5`` for repeat 1, the paper's layout, then
``r2_fold_1`` …). The fold keys are dynamic: ``modeling/fold_assignment`` registers those of the
``cv_repeats`` setting. A key reads ``fold_1|paper`` (Dagster joins the dimensions in name order).

The neural nets are trained once per fold, under one protocol (``NET_PROTOCOL``), and only on
the folds of the first ``net_repeats`` repeats (``net_folds``, registered beside the others): a
net's key reads ``fold_1|recommended`` too, and the fold metrics of both protocols read it
(``NET_FOR_EVERY_PROTOCOL``). No partition exists that nothing is meant to materialize.
"""

from __future__ import annotations

import warnings

from dagster import (
    BetaWarning,
    DimensionPartitionMapping,
    DynamicPartitionsDefinition,
    IdentityPartitionMapping,
    MultiPartitionKey,
    MultiPartitionMapping,
    MultiPartitionsDefinition,
    StaticPartitionMapping,
    StaticPartitionsDefinition,
)

from radiogenomics_assets.defs.names import (
    CV_FOLDS_PARTITIONS,
    NET_FOLDS_PARTITIONS,
    PATIENTS_PARTITIONS,
)
from radiogenomics_assets.survival.splits import FOLD_NAMES
from radiogenomics_assets.survival.study_protocol import NET_PROTOCOL, PROTOCOL_NAMES

__all__ = [
    "FOLD_NAMES",
    "FOLD_PARTITION",
    "fold_partition_key",
    "fold_partition_parts",
    "net_partition_key",
    "net_partitions",
    "study_partitions",
]

#: Asset metadata telling the DuckDB IO manager which column holds each partition dimension.
FOLD_PARTITION = {"partition_expr": {"fold": "fold", "protocol": "protocol"}}

patients_partitions = DynamicPartitionsDefinition(name=PATIENTS_PARTITIONS)
cv_folds_partitions = DynamicPartitionsDefinition(name=CV_FOLDS_PARTITIONS)
study_partitions = MultiPartitionsDefinition(
    {"fold": cv_folds_partitions, "protocol": StaticPartitionsDefinition(list(PROTOCOL_NAMES))}
)
net_folds_partitions = DynamicPartitionsDefinition(name=NET_FOLDS_PARTITIONS)
net_partitions = MultiPartitionsDefinition(
    {"fold": net_folds_partitions, "protocol": StaticPartitionsDefinition([NET_PROTOCOL])}
)


def _fold_mappings() -> tuple[MultiPartitionMapping, MultiPartitionMapping]:
    # MultiPartitionMapping is public but marked beta: said once here, not on every import.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Class `MultiPartitionMapping`", category=BetaWarning
        )
        same_fold = DimensionPartitionMapping("fold", IdentityPartitionMapping())
        own_protocol = DimensionPartitionMapping("protocol", IdentityPartitionMapping())
        net_protocol = DimensionPartitionMapping(
            "protocol", StaticPartitionMapping({NET_PROTOCOL: list(PROTOCOL_NAMES)})
        )
        return (
            MultiPartitionMapping({"fold": same_fold, "protocol": own_protocol}),
            MultiPartitionMapping({"fold": same_fold, "protocol": net_protocol}),
        )


#: A net's fold partition reads that fold's splits under its own protocol; a study partition
#: (``fold_1|paper``) reads the net of its fold (``fold_1|recommended``), and a fold outside
#: ``net_folds`` reads none.
NET_READS_ITS_FOLD, NET_FOR_EVERY_PROTOCOL = _fold_mappings()


def fold_partition_key(fold: str, protocol: str) -> MultiPartitionKey:
    """The partition key of ``fold`` (``fold_3``, ``r2_fold_3``) under ``protocol``."""
    return MultiPartitionKey({"fold": fold, "protocol": protocol})


def net_partition_key(key: str) -> str:
    """The net partition that study partition ``key`` (``fold_1|paper``) reports."""
    fold, _protocol = fold_partition_parts(key)
    return str(fold_partition_key(fold, NET_PROTOCOL))


def fold_partition_parts(key: str) -> tuple[str, str]:
    """``(fold, protocol)`` of a fold partition key such as ``fold_1|paper``.

    Raises:
        ValueError: the key is not ``<fold>|<protocol>``.
    """
    parts = str(key).split("|")
    if len(parts) != 2 or parts[1] not in PROTOCOL_NAMES:
        raise ValueError(f"expected a fold partition key '<fold>|<protocol>', got {key!r}")
    return parts[0], parts[1]
