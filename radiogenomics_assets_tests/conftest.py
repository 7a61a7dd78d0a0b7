"""Fixtures shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest

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
