"""The study's settings in the code versions of exactly the assets that read them.

A resource value is not code, so Dagster would not see it change; folded into the code version,
a changed setting makes exactly the assets that read it stale, as a code change would. The
values read are also the asset's definition metadata (``study_settings``), so the UI shows how
each asset is configured.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from dagster import AssetExecutionContext, AssetsDefinition, MetadataValue

from radiogenomics_assets.defs.names import COHORT, EVALUATION, FEATURES, MODELING
from radiogenomics_assets.survival.registry import MODEL_REGISTRY

#: Per asset: the resource keys it reads and their fields (None: every field).
Read = Mapping[str, tuple[str, ...] | None]
_SPLITS: Read = {"settings": ("seed", "validation_fraction")}
SETTINGS_READ: Mapping[str, Read] = {
    f"{COHORT}/outcomes": {"cohort": ("origin",)},
    f"{COHORT}/patients": {"cohort": None},
    f"{COHORT}/study_cohort": {"cohort": None},
    f"{COHORT}/consort_flow": {"cohort": None},
    f"{FEATURES}/gene_expression": {"expression": None},
    f"{FEATURES}/radiomic_features": {"radiomics": None},
    f"{FEATURES}/densenet_features": {"densenet": None},
    f"{MODELING}/fold_assignment": {"settings": ("seed", "cv_repeats", "net_repeats")},
    f"{MODELING}/fold_splits": _SPLITS,
    f"{EVALUATION}/fold_metrics": _SPLITS,
    f"{EVALUATION}/td_auc_curves": _SPLITS,
    f"{EVALUATION}/td_auc_figures": {"cohort": ("origin",)},
    f"{EVALUATION}/km_figures": {"cohort": ("origin",)},
    # The paper protocol's CoxNet ignores alpha_selection; one version serves both partitions.
    **{
        f"{MODELING}/{spec.name}": {
            "settings": ("seed", "net") if spec.estimator == "net" else ("seed", "alpha_selection")
        }
        for spec in MODEL_REGISTRY
    },
}
MARK = ".settings-"


def settings_values(read: Read, resources: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The values of the fields ``read`` names, by resource key."""
    values = {}
    for key, fields in read.items():
        dumped = resources[key].model_dump()
        values[key] = {name: dumped[name] for name in sorted(fields or dumped)}
    return values


def settings_digest(values: Mapping[str, Any]) -> str:
    """A short digest of :func:`settings_values`' result."""
    text = json.dumps(values, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def with_settings_versions(
    assets: Sequence[AssetsDefinition], resources: Mapping[str, Any]
) -> list[AssetsDefinition]:
    """``assets`` with the values of the settings they read in their code versions and
    definition metadata."""

    def versioned(spec):
        read = SETTINGS_READ.get(spec.key.to_user_string())
        if not read:
            return spec
        values = settings_values(read, resources)
        return spec.replace_attributes(
            code_version=f"{spec.code_version}{MARK}{settings_digest(values)}",
            metadata={**spec.metadata, "study_settings": MetadataValue.json(values)},
        )

    return [
        a.map_asset_specs(versioned)
        if any(k.to_user_string() in SETTINGS_READ for k in a.keys)
        else a
        for a in assets
    ]


def require_versioned_settings(context: AssetExecutionContext, **resources: Any) -> None:
    """Refuse settings other than those the code version names (e.g. a launchpad override of a
    resource): the materialization would record a version that does not say how it was made.

    Raises:
        ValueError: the run's settings differ from the code location's.
    """
    for key in context.selected_asset_keys:
        version = context.assets_def.code_versions_by_key.get(key) or ""
        _, mark, named = version.rpartition(MARK)
        read = SETTINGS_READ.get(key.to_user_string())
        values = settings_values(read, resources) if mark and read else {}
        if values and named != settings_digest(values):
            raise ValueError(
                f"{key.to_user_string()}: the run's settings {values} differ "
                "from the code location's; set them once, in the study file "
                "($RADIOGENOMICS_STUDY), so the assets' versions record them"
            )
