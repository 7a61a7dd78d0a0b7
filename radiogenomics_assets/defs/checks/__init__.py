"""Asset checks: the data contracts, blocking at ingest and WARN for soft thresholds."""
