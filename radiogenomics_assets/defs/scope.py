"""The study's graph: the product's assets less the models and features a study leaves out.

A model the study does not name, and the feature assets of a modality it does not have, are
not part of its graph: not failed, not stale, not in the UI. The assets that remain drop their
dependencies on them (the evaluation assets depend on every model they may read), so Table 1,
the fusion gains and the figures cover exactly the study's models.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from dagster import AssetChecksDefinition, AssetKey, AssetsDefinition

from radiogenomics_assets.defs.names import FEATURES, MODELING, RAW
from radiogenomics_assets.survival.registry import MODEL_REGISTRY, Modality

#: The feature assets a modality alone needs (its models aside).
MODALITY_ASSETS: dict[Modality, tuple[AssetKey, ...]] = {
    "genomics": (
        AssetKey([FEATURES, "gene_expression"]),
        AssetKey([FEATURES, "gene_matrix_top500"]),
    ),
    "pyradiomics": (
        AssetKey([FEATURES, "radiomic_features"]),
        AssetKey([FEATURES, "radiomic_table"]),
    ),
    "densenet": (
        AssetKey([FEATURES, "densenet_features"]),
        AssetKey([FEATURES, "densenet_table"]),
    ),
}
#: What either imaging modality needs: the patient's CT and SEG and the nodule on its grid.
IMAGING_ASSETS = (
    AssetKey([RAW, "nodule_segmentation"]),
    AssetKey([RAW, "ct_series"]),
    AssetKey([FEATURES, "nodule_volume"]),
)
IMAGING: tuple[Modality, ...] = ("pyradiomics", "densenet")


class ScopeError(ValueError):
    """An asset the study keeps reads an input the study leaves out (a wrong scope table)."""


def left_out(modalities: Collection[Modality], models: Collection[str]) -> set[AssetKey]:
    """The keys a study with ``modalities`` and ``models`` does not have."""
    keys = {AssetKey([MODELING, s.name]) for s in MODEL_REGISTRY if s.name not in models}
    for modality, assets in MODALITY_ASSETS.items():
        if modality not in modalities:
            keys |= set(assets)
    if not set(IMAGING) & set(modalities):
        keys |= set(IMAGING_ASSETS)
    return keys


def scoped_assets(
    assets: Sequence[AssetsDefinition], leave_out: Collection[AssetKey]
) -> list[AssetsDefinition]:
    """``assets`` without those of ``leave_out`` and without any dependency on them.

    Raises:
        ScopeError: a kept asset reads one of ``leave_out`` as an input.
    """
    leave_out = set(leave_out)
    kept = [a for a in assets if not set(a.keys) & leave_out]
    for asset in kept:
        read = {key for name, key in asset.keys_by_input_name.items() if _loads(asset, name)}
        if read & leave_out:
            names = ", ".join(sorted(k.to_user_string() for k in read & leave_out))
            where = ", ".join(k.to_user_string() for k in asset.keys)
            raise ScopeError(f"{where} reads {names}, left out of the study")

    def without_left_out(spec):
        deps = [dep for dep in spec.deps if dep.asset_key not in leave_out]
        return spec.replace_attributes(deps=deps) if len(deps) < len(spec.deps) else spec

    return [a.map_asset_specs(without_left_out) for a in kept]


def _loads(asset: AssetsDefinition, input_name: str) -> bool:
    """Whether the asset loads the input's value (a dependency alone is a Nothing input)."""
    return not asset.node_def.input_def_named(input_name).dagster_type.is_nothing


def scoped_checks(
    checks: Sequence[AssetChecksDefinition], keys: Collection[AssetKey]
) -> list[AssetChecksDefinition]:
    """The checks whose every checked asset is one of ``keys``."""
    keys = set(keys)
    return [c for c in checks if all(check.asset_key in keys for check in c.check_keys)]
