"""Command-line entry points (`make demo`, `make refresh`, `make sql`, ...): they print a plan,
progress and results, and ask the Dagster layer what to run."""
