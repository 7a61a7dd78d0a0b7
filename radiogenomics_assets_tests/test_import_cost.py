"""Loading the code location imports no heavy library (every Dagster process pays its load)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "torch",
    "torchvision",
    "sksurv",
    "sklearn",
    "matplotlib",
    "radiomics",
    "SimpleITK",
    "pydicom",
    "highdicom",
)

LOAD = f"""
import json, sys
from radiogenomics_assets.definitions import defs
defs.resolve_asset_graph()
print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))
"""


def test_loading_the_definitions_imports_no_heavy_library() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", LOAD], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert json.loads(completed.stdout) == []


def test_dagster_itself_imports_none_of_them() -> None:
    # Otherwise the test above could not fail for the libraries Dagster brings in anyway.
    probe = (
        f"import dagster, json, sys; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert json.loads(completed.stdout) == []
