"""The embedded, offline demo cohort: synthetic data in the real formats with a planted signal.

See :mod:`.signal` for the planted model and :mod:`.cohort` for the folder layout.
"""

from __future__ import annotations

from radiogenomics_assets.sources.demo.cohort import (
    DemoCohort,
    DemoCohortError,
    consort_counts,
    generate_demo_cohort,
    verify_demo_cohort,
)
from radiogenomics_assets.sources.demo.config import DEFAULT_CONFIG, DemoConfig, DemoConfigError
from radiogenomics_assets.sources.demo.signal import simulate_signal
from radiogenomics_assets.sources.demo.source import DemoSource

__all__ = [
    "DEFAULT_CONFIG",
    "DemoCohort",
    "DemoCohortError",
    "DemoConfig",
    "DemoConfigError",
    "DemoSource",
    "consort_counts",
    "generate_demo_cohort",
    "simulate_signal",
    "verify_demo_cohort",
]
