"""Prepare ``$DAGSTER_HOME`` so `make demo` and `make ui` share one Dagster instance.

Run history then survives between the two commands: the UI shows the lineage and metadata of
the runs `make demo` made. Telemetry is switched off because these machines may have no network.
"""

from __future__ import annotations

import os
from pathlib import Path

from radiogenomics_assets.config import radiogenomics_home

DAGSTER_YAML = "telemetry:\n  enabled: false\n"


def ensure_dagster_home() -> Path:
    """Create ``$DAGSTER_HOME`` (default: ``$RADIOGENOMICS_HOME/dagster_home``) and its settings."""
    home = Path(os.environ.get("DAGSTER_HOME") or radiogenomics_home() / "dagster_home").resolve()
    os.environ["DAGSTER_HOME"] = str(home)
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if not settings.exists():
        settings.write_text(DAGSTER_YAML)
    return home


if __name__ == "__main__":
    print(f"DAGSTER_HOME={ensure_dagster_home()}")
