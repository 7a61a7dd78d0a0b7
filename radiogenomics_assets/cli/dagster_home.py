"""Prepare ``$DAGSTER_HOME`` for `make ui` (and a deployment): its ``dagster.yaml`` keys as
``defs.instance_config`` writes them, every other key kept."""

from __future__ import annotations

from radiogenomics_assets.defs.instance_config import ensure_dagster_home


def main() -> None:
    print(f"DAGSTER_HOME={ensure_dagster_home()}")


if __name__ == "__main__":
    main()
