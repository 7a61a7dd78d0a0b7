"""Partition sets: one dynamic partition per imaged patient; per study protocol and CV fold.

Fold assets are partitioned two ways at once: by ``protocol`` (``paper`` or ``recommended``,
:mod:`~radiogenomics_assets.survival.study_protocol`) and by ``fold``, one key per fold of each
repeat of the cross-validation (``fold_1`` … ``fold_5`` for repeat 1, the paper's layout, then
``r2_fold_1`` …). The fold keys are dynamic: ``modeling/fold_assignment`` registers those of the
``cv_repeats`` setting. A key reads ``fold_1|paper`` (Dagster joins the dimensions in name order).
"""

from __future__ import annotations

from dagster import (
    DynamicPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    StaticPartitionsDefinition,
)

from radiogenomics_assets.defs.names import CV_FOLDS_PARTITIONS, PATIENTS_PARTITIONS
from radiogenomics_assets.survival.splits import FOLD_NAMES
from radiogenomics_assets.survival.study_protocol import PROTOCOL_NAMES

__all__ = [
    "FOLD_NAMES",
    "FOLD_PARTITION",
    "fold_partition_key",
    "fold_partition_parts",
    "study_partitions",
]

#: Asset metadata telling the DuckDB IO manager which column holds each partition dimension.
FOLD_PARTITION = {"partition_expr": {"fold": "fold", "protocol": "protocol"}}

patients_partitions = DynamicPartitionsDefinition(name=PATIENTS_PARTITIONS)
cv_folds_partitions = DynamicPartitionsDefinition(name=CV_FOLDS_PARTITIONS)
study_partitions = MultiPartitionsDefinition(
    {"fold": cv_folds_partitions, "protocol": StaticPartitionsDefinition(list(PROTOCOL_NAMES))}
)


def fold_partition_key(fold: str, protocol: str) -> MultiPartitionKey:
    """The partition key of ``fold`` (``fold_3``, ``r2_fold_3``) under ``protocol``."""
    return MultiPartitionKey({"fold": fold, "protocol": protocol})


def fold_partition_parts(key: str) -> tuple[str, str]:
    """``(fold, protocol)`` of a fold partition key such as ``fold_1|paper``.

    Raises:
        ValueError: the key is not ``<fold>|<protocol>``.
    """
    parts = str(key).split("|")
    if len(parts) != 2 or parts[1] not in PROTOCOL_NAMES:
        raise ValueError(f"expected a fold partition key '<fold>|<protocol>', got {key!r}")
    return parts[0], parts[1]
