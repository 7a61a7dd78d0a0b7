"""The update path, timed: a full demo, an unchanged refresh, then new patients and a refresh.

Runs, in a fresh store (a temporary folder unless ``--home``), the same commands a user does:

1. ``python -m radiogenomics_assets.cli.demo`` on ``--patients`` demo patients (``make demo``);
2. ``python -m radiogenomics_assets.cli.refresh`` on the unchanged store (``make refresh``);
3. the same with ``RADIOGENOMICS_DEMO_PATIENTS`` raised by ``--grow`` (new patients arrive).

and prints, per command and phase, the wall time and the runs and asset partitions launched,
read from the commands' own output. The feature stage is the source tables and the per-patient
runs; the model stage is cohort, folds, nets, fold metrics and evaluation. Usage::

    .venv/bin/python benchmarks/update_path.py [--patients 200] [--grow 5] [--home DIR]
        [--models linear|all]

``--models`` is passed to every command (as `make demo MODELS=...`); unset, their default.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from radiogenomics_assets.defs.jobs import PHASES

FEATURE_JOBS = ("ingest_job", "patient_assets_job")
PHASE_TITLES = {p.title: "feature" if p.job in FEATURE_JOBS else "model" for p in PHASES}
PHASE_DONE = re.compile(r"^  phase: (\d+) runs, (\d+) asset partitions planned, ([\d.]+) s$")
NOTHING = re.compile(r"^  nothing missing or stale \(checked in ([\d.]+) s\)$")


def run(label: str, module: str, env: dict[str, str], args: list[str]) -> list[dict[str, object]]:
    """Run one command; return a row per phase plus a total row."""
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", module, *args], env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        sys.stderr.write(completed.stdout[-4000:] + completed.stderr[-4000:])
        raise SystemExit(f"{label}: {module} exited with {completed.returncode}")
    rows, phase = [], None
    for line in completed.stdout.splitlines():
        if line.startswith("== "):
            phase = line[3:]
        elif (done := PHASE_DONE.match(line)) and phase:
            runs, planned, seconds = done.groups()
            rows.append((phase, int(runs), int(planned), float(seconds)))
        elif (nothing := NOTHING.match(line)) and phase:
            rows.append((phase, 0, 0, float(nothing.group(1))))
    table = [
        {
            "command": label,
            "phase": p,
            "stage": PHASE_TITLES.get(p, "?"),
            "runs": r,
            "asset partitions": a,
            "seconds": s,
        }
        for p, r, a, s in rows
    ]
    table.append(
        {
            "command": label,
            "phase": "(whole command)",
            "stage": "",
            "runs": sum(r[1] for r in rows),
            "asset partitions": sum(r[2] for r in rows),
            "seconds": wall,
        }
    )
    return table


def stage_seconds(table: list[dict[str, object]], command: str, stage: str) -> float:
    return sum(
        float(r["seconds"]) for r in table if r["command"] == command and r["stage"] == stage
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--grow", type=int, default=5)
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--models", choices=("linear", "all"), default=None)
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="update-path-"))
    env = {
        **os.environ,
        "RADIOGENOMICS_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster_home"),
        "RADIOGENOMICS_SOURCE": "demo",
        "RADIOGENOMICS_DEMO_PATIENTS": str(args.patients),
    }
    grown = {**env, "RADIOGENOMICS_DEMO_PATIENTS": str(args.patients + args.grow)}
    models = ["--models", args.models] if args.models else []
    demo, refresh = "radiogenomics_assets.cli.demo", "radiogenomics_assets.cli.refresh"
    table = run(f"demo ({args.patients} patients)", demo, env, models)
    table += run("refresh, unchanged", refresh, env, models)
    table += run(f"refresh, +{args.grow} patients", refresh, grown, models)

    print(f"\nstore: {home}   cores: {os.cpu_count()}")
    print(f"{'command':<24} {'phase':<42} {'stage':<8} {'runs':>5} {'asset parts':>11} {'s':>8}")
    for row in table:
        print(
            f"{row['command']:<24} {row['phase']:<42} {row['stage']:<8} {row['runs']:>5} "
            f"{row['asset partitions']:>11} {row['seconds']:>8.1f}"
        )
    full = stage_seconds(table, table[0]["command"], "feature")
    update = stage_seconds(table, f"refresh, +{args.grow} patients", "feature")
    print(
        f"\nfeature stage of the update / of the full build: {update:.1f} / {full:.1f} s "
        f"= {100 * update / full:.1f} %"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
