"""The data-source resources: one typed resource per backend, each building its DataSource.

The raw assets ask for a :class:`SourceResource` under the resource key ``source`` and call
:meth:`SourceResource.build`; which backend is bound there is the code location's choice (see
:func:`source_from_environment`). Each backend imports its library code only in ``build``, so
loading the code location does not pay for the backends it does not use.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource, EnvVar
from pydantic import Field

from radiogenomics_assets import config
from radiogenomics_assets.sources.base import DataSource
from radiogenomics_assets.sources.http import RetryPolicy

DEMO_PATIENTS_ENV = "RADIOGENOMICS_DEMO_PATIENTS"
DEMO_CONFIG_ENV = "RADIOGENOMICS_DEMO_CONFIG"
LOCAL_DICOM_ENV = "RADIOGENOMICS_LOCAL_DICOM"
LOCAL_CLINICAL_ENV = "RADIOGENOMICS_LOCAL_CLINICAL"
LOCAL_RNASEQ_ENV = "RADIOGENOMICS_LOCAL_RNASEQ"


class SourceResource(ConfigurableResource):
    """Where the raw assets read clinical labels, RNA-seq and imaging from."""

    @abstractmethod
    def build(self, default_cache: Path) -> DataSource:
        """The configured source; files it generates or indexes go under ``default_cache``.

        Call it on a resource Dagster initialized (or on ``process_config_and_initialize()``'s
        result): before that, an :class:`~dagster.EnvVar` setting is not yet its value.
        """


class DemoSourceResource(SourceResource):
    """The synthetic demo cohort, generated on first use (no network)."""

    patients: int | None = Field(
        default=None, description="cohort size; unset: the DemoConfig default"
    )
    seed: int | None = Field(default=None, description="cohort seed; unset: the DemoConfig default")
    config: dict[str, Any] | None = Field(
        default=None, description="DemoConfig fields to override (n_genes, fractions, ...)"
    )
    cache_dir: str | None = Field(
        default=None,
        description="where the generated cohort is kept; unset: files/sources in the store",
    )
    workers: int | None = Field(
        default=None,
        description="processes that generate the cohort's imaging; unset: one per CPU core "
        "(the bytes do not depend on it)",
    )

    def build(self, default_cache: Path) -> DataSource:
        from radiogenomics_assets.sources.demo import DemoConfig, DemoSource

        overrides: dict[str, Any] = dict(self.config or {})
        if self.patients is not None:
            overrides["n_patients"] = self.patients
        if self.seed is not None:
            overrides["seed"] = self.seed
        cache_root = Path(self.cache_dir) if self.cache_dir else default_cache
        workers = self.workers or os.cpu_count() or 1
        return DemoSource(cache_root / "demo", DemoConfig(**overrides), workers=workers)


class LocalSourceResource(SourceResource):
    """An existing download: a DICOM tree, the clinical CSV and the GEO RNA-seq matrix."""

    dicom_root: str | None = Field(
        default=None,
        description=f"folder holding the CT and SEG series (${LOCAL_DICOM_ENV}); unset: no "
        "imaging (a genomics-only study)",
    )
    clinical_csv: str = Field(description=f"TCIA clinical labels CSV (${LOCAL_CLINICAL_ENV})")
    rnaseq_matrix: str = Field(description=f"GEO GSE103584 matrix (${LOCAL_RNASEQ_ENV})")

    def build(self, default_cache: Path) -> DataSource:
        from radiogenomics_assets.sources.header_cache import HEADER_CACHE_DIR
        from radiogenomics_assets.sources.local import LocalSource

        return LocalSource(
            dicom_root=Path(self.dicom_root).expanduser().resolve() if self.dicom_root else None,
            clinical_csv=Path(self.clinical_csv).expanduser().resolve(),
            rnaseq_matrix=Path(self.rnaseq_matrix).expanduser().resolve(),
            header_cache=default_cache / HEADER_CACHE_DIR,
        )


class _RemoteSourceResource(SourceResource):
    """Settings the archives share: the TCIA/GEO file URLs and the per-request retries."""

    clinical_url: str | None = Field(
        default=None, description="clinical labels CSV URL; unset: the TCIA file"
    )
    rnaseq_url: str | None = Field(
        default=None, description="RNA-seq matrix URL; unset: the GEO GSE103584 file"
    )
    http_attempts: int | None = Field(
        default=None,
        description=f"tries per HTTP request, the first included; unset: {RetryPolicy().attempts}",
    )
    http_backoff_s: float | None = Field(
        default=None,
        description="seconds before the first retry, doubling with each further retry; unset: "
        f"{RetryPolicy().backoff_initial_s}",
    )

    def retry_policy(self) -> RetryPolicy:
        """The per-request retry policy: ``RetryPolicy()`` where unset.

        Raises:
            ValueError: ``http_attempts`` < 1 or ``http_backoff_s`` < 0.
        """
        settings: dict[str, Any] = {}
        if self.http_attempts is not None:
            settings["attempts"] = self.http_attempts
        if self.http_backoff_s is not None:
            settings["backoff_initial_s"] = self.http_backoff_s
        return RetryPolicy(**settings)

    def _remote_settings(self) -> dict[str, object]:
        # Unset URLs are left out so the source's own defaults apply.
        settings: dict[str, object] = {"retry": self.retry_policy()}
        if self.clinical_url:
            settings["clinical_url"] = self.clinical_url
        if self.rnaseq_url:
            settings["rnaseq_url"] = self.rnaseq_url
        return settings


class TciaSourceResource(_RemoteSourceResource):
    """The TCIA NBIA REST API for imaging, the TCIA and GEO files for labels and RNA-seq."""

    base_url: str | None = Field(default=None, description="NBIA v4 base URL; unset: TCIA's")

    def build(self, default_cache: Path) -> DataSource:
        from radiogenomics_assets.sources.tcia import TciaSource

        settings = self._remote_settings()
        if self.base_url:
            settings["base_url"] = self.base_url
        return TciaSource(**settings)


class IdcSourceResource(_RemoteSourceResource):
    """NCI Imaging Data Commons (idc-index) for imaging, the TCIA and GEO files for the rest."""

    s3_endpoint: str | None = Field(
        default=None, description="S3 endpoint URL for s5cmd; unset: AWS (IDC's public buckets)"
    )

    def build(self, default_cache: Path) -> DataSource:
        from radiogenomics_assets.sources.idc import IdcSource

        settings = self._remote_settings()
        if self.s3_endpoint:
            settings["s3_endpoint"] = self.s3_endpoint
        return IdcSource(**settings)


def source_kind(resource: SourceResource) -> str:
    """The ``$RADIOGENOMICS_SOURCE`` name of ``resource``'s backend (``demo``, ``local``, ...).

    Read from the bound resource, not the environment: a code location built with an explicit
    source (``build_definitions(source=...)``) runs that source whatever the variable says. A
    resource of another class is named by its class, so it is never taken for the demo.
    """
    kinds: tuple[tuple[type[SourceResource], str], ...] = (
        (DemoSourceResource, "demo"),
        (LocalSourceResource, "local"),
        (TciaSourceResource, "tcia"),
        (IdcSourceResource, "idc"),
    )
    return next((name for cls, name in kinds if isinstance(resource, cls)), type(resource).__name__)


def source_from_environment(
    name: str | None = None, settings: Mapping[str, Any] | None = None, *, imaging: bool = True
) -> SourceResource:
    """The resource of backend ``name`` (else ``$RADIOGENOMICS_SOURCE``'s, ``demo`` if unset)
    with ``settings`` (a study file's), configured by the environment where its variables are set.

    Called when the code location loads, never at import. Only the backend's name, whether
    the optional ``$RADIOGENOMICS_DEMO_PATIENTS`` and ``$RADIOGENOMICS_LOCAL_DICOM`` are set and
    the optional ``$RADIOGENOMICS_DEMO_CONFIG`` (a JSON object of DemoConfig fields, e.g.
    ``{"n_patients": 70, "seed": 2037}``) are read here. A demo variable that is set wins over
    ``settings``; a local path that ``settings`` leaves unset is an :class:`~dagster.EnvVar`
    that Dagster resolves when a run starts, so a missing path fails that run with a message
    naming the variable. A study without ``imaging`` needs no DICOM root: unset, and without
    its variable, the local source serves no imaging.

    Raises:
        ValueError: ``name`` is not one of :data:`config.SOURCE_NAMES`, or
            ``$RADIOGENOMICS_DEMO_CONFIG`` is not a JSON object.
    """
    name = config.source_name(name)
    settings = dict(settings or {})
    if name == "demo":
        # EnvVar has no default: bound only when set, so an unset variable keeps the file's.
        if os.environ.get(DEMO_PATIENTS_ENV):
            settings["patients"] = EnvVar.int(DEMO_PATIENTS_ENV)
        if os.environ.get(DEMO_CONFIG_ENV, "").strip():
            settings["config"] = _demo_config()
        return DemoSourceResource(**settings)
    if name == "local":
        variables = {
            "dicom_root": LOCAL_DICOM_ENV,
            "clinical_csv": LOCAL_CLINICAL_ENV,
            "rnaseq_matrix": LOCAL_RNASEQ_ENV,
        }
        for field, variable in variables.items():
            needed = imaging or field != "dicom_root" or os.environ.get(variable)
            if not settings.get(field) and needed:
                settings[field] = EnvVar(variable)
        return LocalSourceResource(**settings)
    if name == "tcia":
        return TciaSourceResource(**settings)
    return IdcSourceResource(**settings)


def _demo_config() -> dict[str, Any]:
    import json

    text = os.environ[DEMO_CONFIG_ENV]
    try:
        overrides = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{DEMO_CONFIG_ENV} is not JSON: {error}") from error
    if not isinstance(overrides, dict):
        raise ValueError(f"{DEMO_CONFIG_ENV} must be a JSON object, got {text!r}")
    return overrides
