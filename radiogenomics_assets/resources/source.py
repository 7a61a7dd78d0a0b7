"""The data-source resource: builds the configured :class:`DataSource` for a run.

Every setting can come from the run config or, when left unset, from the environment at run
time (``RADIOGENOMICS_SOURCE`` and the ``RADIOGENOMICS_*`` variables below), never at import.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource
from pydantic import Field

from radiogenomics_assets import config
from radiogenomics_assets.sources.base import DataSource
from radiogenomics_assets.sources.http import RetryPolicy


def _env_path(value: str | None, variable: str) -> Path:
    chosen = value or os.environ.get(variable)
    if not chosen:
        raise ValueError(f"the local source needs {variable} (or the resource setting) to be set")
    return Path(chosen).expanduser().resolve()


class SourceResource(ConfigurableResource):
    """Which source feeds the raw assets, and its settings."""

    name: str | None = Field(default=None, description="demo | local | tcia | idc; unset: env")
    demo_patients: int | None = Field(
        default=None, description="demo cohort size; unset: $RADIOGENOMICS_DEMO_PATIENTS or default"
    )
    demo_seed: int | None = Field(default=None, description="demo seed; unset: default")
    demo_config: dict[str, Any] | None = Field(
        default=None, description="demo: DemoConfig fields to override (n_genes, fractions, ...)"
    )
    cache_dir: str | None = Field(
        default=None,
        description="where sources keep generated or index files; unset: "
        "files/sources in the store",
    )
    local_dicom_root: str | None = Field(default=None, description="$RADIOGENOMICS_LOCAL_DICOM")
    local_clinical_csv: str | None = Field(
        default=None, description="$RADIOGENOMICS_LOCAL_CLINICAL"
    )
    local_rnaseq_matrix: str | None = Field(default=None, description="$RADIOGENOMICS_LOCAL_RNASEQ")
    nbia_base_url: str | None = Field(default=None, description="tcia: NBIA v4 base URL")
    clinical_url: str | None = Field(default=None, description="tcia/idc: clinical labels CSV URL")
    rnaseq_url: str | None = Field(default=None, description="tcia/idc: GEO RNA-seq matrix URL")
    s3_endpoint: str | None = Field(default=None, description="idc: bucket endpoint template")
    http_attempts: int | None = Field(
        default=None,
        description="tcia/idc: tries per HTTP request, the first included; unset: "
        f"{RetryPolicy().attempts}",
    )
    http_backoff_s: float | None = Field(
        default=None,
        description="tcia/idc: seconds before the first retry, doubling with each further "
        f"retry; unset: {RetryPolicy().backoff_initial_s}",
    )

    def source_name(self) -> str:
        if self.name:
            if self.name not in config.SOURCE_NAMES:
                raise ValueError(f"source {self.name!r} is not one of {config.SOURCE_NAMES}")
            return self.name
        return config.source_name()

    def retry_policy(self) -> RetryPolicy:
        """The remote sources' per-request retry policy: ``RetryPolicy()`` where unset.

        Raises:
            ValueError: ``http_attempts`` < 1 or ``http_backoff_s`` < 0.
        """
        settings: dict[str, Any] = {}
        if self.http_attempts is not None:
            settings["attempts"] = self.http_attempts
        if self.http_backoff_s is not None:
            settings["backoff_initial_s"] = self.http_backoff_s
        return RetryPolicy(**settings)

    def build(self, default_cache: Path) -> DataSource:
        """The configured source, keeping its files under ``cache_dir`` or ``default_cache``."""
        cache_root = Path(self.cache_dir) if self.cache_dir else default_cache
        name = self.source_name()
        if name == "demo":
            from radiogenomics_assets.sources.demo import DemoConfig, DemoSource

            overrides: dict[str, Any] = dict(self.demo_config or {})
            patients = self.demo_patients or os.environ.get("RADIOGENOMICS_DEMO_PATIENTS")
            if patients:
                overrides["n_patients"] = int(patients)
            if self.demo_seed is not None:
                overrides["seed"] = self.demo_seed
            return DemoSource(cache_root / "demo", DemoConfig(**overrides))
        if name == "local":
            from radiogenomics_assets.sources.local import LocalSource

            return LocalSource(
                dicom_root=_env_path(self.local_dicom_root, "RADIOGENOMICS_LOCAL_DICOM"),
                clinical_csv=_env_path(self.local_clinical_csv, "RADIOGENOMICS_LOCAL_CLINICAL"),
                rnaseq_matrix=_env_path(self.local_rnaseq_matrix, "RADIOGENOMICS_LOCAL_RNASEQ"),
            )
        remote: dict[str, object] = {"retry": self.retry_policy()}
        for setting in ("clinical_url", "rnaseq_url"):
            if getattr(self, setting):
                remote[setting] = getattr(self, setting)
        if name == "tcia":
            from radiogenomics_assets.sources.tcia import TciaSource

            if self.nbia_base_url:
                remote["base_url"] = self.nbia_base_url
            return TciaSource(**remote)
        from radiogenomics_assets.sources.idc import IdcSource

        if self.s3_endpoint:
            remote["s3_endpoint"] = self.s3_endpoint
        return IdcSource(**remote)
