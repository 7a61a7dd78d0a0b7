"""The Dagster layer: assets, checks, resources, partitions, jobs, sensors, schedules, automation
conditions, instance settings and the Celery executor. Thin wiring over the library packages;
``radiogenomics_assets.definitions`` assembles it into the code location."""
