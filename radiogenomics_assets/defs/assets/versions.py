"""Every asset's ``code_version`` derived from the source it runs (see ``code_hash``)."""

from __future__ import annotations

from dagster import AssetsDefinition

from radiogenomics_assets.code_hash import code_digest


def with_code_version(assets_def: AssetsDefinition) -> AssetsDefinition:
    """Give each asset of ``assets_def`` without a code version the digest of its compute code.

    Applied above ``@asset``: the version then changes whenever the asset function, a helper
    beside it, or a project module it reaches changes, and never on a comment or docstring.
    """
    version = code_digest(assets_def.op.compute_fn.decorated_fn)
    return assets_def.map_asset_specs(
        lambda spec: spec if spec.code_version else spec.replace_attributes(code_version=version)
    )
