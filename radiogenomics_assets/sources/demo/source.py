"""The ``demo`` data source: a generated cohort served like a local download.

The cohort for a configuration lives under ``cache_root / <config.short_population_digest()>``,
a folder named without ``n_patients``: it is generated on first use (once, even across
processes), and a config with more or fewer patients grows or shrinks that same folder, leaving
the patients both sizes share untouched (see :mod:`.cohort`). Every method then
delegates to a :class:`~radiogenomics_assets.sources.local.LocalSource` over it, so the demo
exercises exactly the parsing path real local data takes, except that its series are hard-linked
into the store rather than copied (the generated files are never written again).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pandas as pd

from radiogenomics_assets.sources.base import DataSource, LogFn, Manifest, SeriesOrigins
from radiogenomics_assets.sources.demo.cohort import (
    CLINICAL_FILENAME,
    GROUND_TRUTH_FILENAME,
    RNASEQ_FILENAME,
    DemoCohort,
    cohort_at,
    generate_demo_cohort,
)
from radiogenomics_assets.sources.demo.config import DEFAULT_CONFIG, DemoConfig
from radiogenomics_assets.sources.demo.integrity import COHORT_FILENAME, FILES_FILENAME
from radiogenomics_assets.sources.header_cache import HEADER_CACHE_DIR
from radiogenomics_assets.sources.local import LocalSource

_BOOLEAN_COLUMNS = (
    "event",
    "has_rnaseq",
    "has_ct",
    "has_seg",
    "has_second_segment",
    "recurrence_collected",
    "adjuvant",
    "chemotherapy",
    "radiation",
    "in_study_cohort",
)


_INTEGER_COLUMNS = ("nodule_voxels", "nodule_slices", "nodule_segment_number")


def _silent(_message: str) -> None:
    return None


#: Cohorts this process has found complete. Every run builds its own DemoSource, and checking
#: the ~8 000 files of a full cohort cost more than fetching one patient's series; the key holds
#: the stat of the two files any regeneration rewrites, so a changed cohort is checked again.
_FOUND_COMPLETE: set[tuple[object, ...]] = set()


def _completion_key(root: Path, config: DemoConfig) -> tuple[object, ...] | None:
    try:
        stats = [(root / name).stat() for name in (COHORT_FILENAME, FILES_FILENAME)]
    except OSError:
        return None
    return (str(root), config.digest(), *((s.st_ino, s.st_size, s.st_mtime_ns) for s in stats))


class DemoSource(DataSource):
    """A synthetic cohort with a planted signal, generated offline into a cache folder."""

    name: ClassVar[str] = "demo"
    offline: ClassVar[bool] = True

    def __init__(
        self, cache_root: Path, config: DemoConfig = DEFAULT_CONFIG, *, workers: int = 1
    ) -> None:
        """Serve the cohort of ``config`` from ``cache_root`` (``workers``: see generation).

        Raises:
            TypeError: ``config`` is not a :class:`DemoConfig`.
        """
        if not isinstance(config, DemoConfig):
            raise TypeError(f"config must be a DemoConfig, got {type(config).__name__}")
        self.cache_root = Path(cache_root)
        self.config = config
        self.workers = workers
        self._cohort: DemoCohort | None = None

    @property
    def cohort_root(self) -> Path:
        """The population's folder (shared by every ``n_patients`` of this config)."""
        return self.cache_root / self.config.short_population_digest()

    def cohort(self, log: LogFn = _silent) -> DemoCohort:
        """The generated cohort, generating it on first use."""
        if self._cohort is None:
            if _completion_key(self.cohort_root, self.config) in _FOUND_COMPLETE:
                self._cohort = cohort_at(self.cohort_root, self.config)
            else:
                self._cohort = generate_demo_cohort(
                    self.cohort_root, self.config, log=log, workers=self.workers
                )
                _FOUND_COMPLETE.add(_completion_key(self.cohort_root, self.config))
        return self._cohort

    def _local(self, log: LogFn) -> LocalSource:
        cohort = self.cohort(log)
        # The generated cohort is never written again once complete: link its files rather
        # than copy them (the store's copies are never modified in place either).
        return LocalSource(
            cohort.dicom_root,
            cohort.clinical_csv,
            cohort.rnaseq_matrix,
            link_series=True,
            header_cache=self.cache_root / HEADER_CACHE_DIR,
        )

    def clinical_origin(self) -> str:
        return str(self.cohort_root / CLINICAL_FILENAME)

    def rnaseq_origin(self) -> str:
        return str(self.cohort_root / RNASEQ_FILENAME)

    def fetch_clinical_labels(self, dest: Path, log: LogFn) -> None:
        self._local(log).fetch_clinical_labels(dest, log)

    def fetch_rnaseq_matrix(self, dest: Path, log: LogFn) -> None:
        self._local(log).fetch_rnaseq_matrix(dest, log)

    def imaging_manifest(self, log: LogFn) -> Manifest:
        return self._local(log).imaging_manifest(log)

    def patient_series(self, patient_id: str, log: LogFn) -> pd.DataFrame:
        return self._local(log).patient_series(patient_id, log)

    def fetch_series(
        self, patient_id: str, series_uid: str, dest_dir: Path, log: LogFn
    ) -> SeriesOrigins:
        return self._local(log).fetch_series(patient_id, series_uid, dest_dir, log)

    def describe(self) -> dict[str, str]:
        return {
            **super().describe(),
            "seed": str(self.config.seed),
            "n_patients": str(self.config.n_patients),
            "config_digest": self.config.short_digest(),
            "population_digest": self.config.short_population_digest(),
            "cohort_root": str(self.cohort_root),
            "ground_truth": str(self.cohort_root / GROUND_TRUTH_FILENAME),
        }

    def ground_truth(self) -> pd.DataFrame:
        """The oracle table (latents, true times, flags); for evaluation only, never for models."""
        frame = pd.read_csv(
            self.cohort().ground_truth_csv,
            dtype={"patient_id": str, "site": str, "lobe": str, "n_stage": str, "ct_date": str},
            keep_default_na=False,
            na_values=[""],
        )
        for column in _BOOLEAN_COLUMNS:
            frame[column] = frame[column].astype(bool)
        for column in _INTEGER_COLUMNS:
            frame[column] = frame[column].astype("Int64")
        return frame
