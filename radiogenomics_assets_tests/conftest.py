"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

# One pytest-xdist worker per core: each worker's OpenMP and BLAS pools (torch, numpy, and the
# run processes a worker starts) get one thread, or two workers' pools fight over two cores.
# Set before anything imports numpy or torch, which read it once.
if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import pandas as pd
import pytest

from radiogenomics_assets.sources.demo import DemoCohort, generate_demo_cohort
from radiogenomics_assets.sources.demo.source import DemoSource
from radiogenomics_assets_tests.demo_fixtures import SMALL_CONFIG

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout (real public data); skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"real public data not found at {SHARED_DATA} (../shared/data beside the checkout)"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def sources_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DemoSourceResource ``cache_dir`` shared by the session (the demo cohort lives in it)."""
    return tmp_path_factory.mktemp("sources")


@pytest.fixture(scope="session")
def demo_cache(sources_cache: Path) -> Path:
    """The DemoSource cache root; the small cohort is generated under it once per session."""
    return sources_cache / "demo"


@pytest.fixture(scope="session")
def small_cohort(demo_cache: Path) -> DemoCohort:
    return generate_demo_cohort(
        demo_cache / SMALL_CONFIG.short_population_digest(), SMALL_CONFIG, workers=1
    )


@pytest.fixture(scope="session")
def small_ground_truth(small_cohort: DemoCohort, demo_cache: Path) -> pd.DataFrame:
    return DemoSource(demo_cache, SMALL_CONFIG).ground_truth()


#: Modules of several minutes each, collected first, longest first: under pytest-xdist
#: (`--dist loadfile --no-loadscope-reorder`) each then starts on a worker of its own at once,
#: and the short modules fill the workers that finish early.
LONGEST_FIRST = (
    "dagster_layer/test_daemon_update.py",
    "dagster_layer/test_full_graph.py",
    "distributed/test_celery_run.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        module = item.path.relative_to(Path(__file__).parent).as_posix()
        return LONGEST_FIRST.index(module) if module in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: every other test keeps its place
