"""How long `.ci/run` takes, stage by stage, on fresh clones of one or more revisions.

    python benchmarks/ci_stages.py REV [REV ...]

Each revision is cloned from this checkout into a folder of its own (with a copy of
``../shared`` beside it, as CI has), then `.ci/run`'s stages run there one after another: the
services' packages, `make test` (which creates and installs `.venv`), `make test-slow`. Prints
each stage's wall time and tests, then the 15 slowest tests of each revision from pytest's JUnit
reports. Run the revisions in one call, on a quiet machine: absolute times drift between days.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
STAGES = [("services", "services-packages"), ("test", "test"), ("test-slow", "test-slow")]


def clone(rev: str, root: Path) -> Path:
    checkout = root / "checkout"
    subprocess.run(["git", "clone", "-q", str(REPO), str(checkout)], check=True)
    subprocess.run(["git", "-C", str(checkout), "checkout", "-q", rev], check=True)
    if SHARED.is_dir():
        shutil.copytree(SHARED, root / "shared")
    return checkout


def cases(report: Path) -> list[tuple[float, str, bool]]:
    """(seconds, test id, failed) per test of a JUnit report."""
    if not report.exists():
        return []
    return [
        (
            float(case.get("time", 0)),
            f"{case.get('classname')}::{case.get('name')}",
            case.find("failure") is not None or case.find("error") is not None,
        )
        for case in ET.parse(report).getroot().iter("testcase")
    ]


def run_stages(rev: str, root: Path) -> list[tuple[str, int, float, list]]:
    checkout = clone(rev, root)
    rows = []
    for label, target in STAGES:
        report = root / f"{label}.xml"
        env = {**os.environ, "PYTEST_ADDOPTS": f"--junitxml={report}"}
        started = time.perf_counter()
        with open(root / f"{label}.log", "wb") as log:
            rc = subprocess.run(
                ["make", target], cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT
            ).returncode
        rows.append((label, rc, time.perf_counter() - started, cases(report)))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revs", nargs="+")
    args = parser.parse_args()
    results = {}
    for rev in args.revs:
        root = Path(tempfile.mkdtemp(prefix="ci_stages_"))
        print(f"{rev}: in {root}", flush=True)
        results[rev] = run_stages(rev, root)
    print(f"\ncores={os.cpu_count()}")
    print(f"{'revision':<14}{'stage':<12}{'rc':>4}{'wall s':>9}{'tests':>7}{'failed':>8}")
    for rev, rows in results.items():
        for label, rc, seconds, tests in rows:
            failed = sum(f for _, _, f in tests)
            print(f"{rev[:12]:<14}{label:<12}{rc:>4}{seconds:>9.0f}{len(tests):>7}{failed:>8}")
        print(f"{rev[:12]:<14}{'.ci/run':<12}{'':>4}{sum(r[2] for r in rows):>9.0f}")
    for rev, rows in results.items():
        print(f"\n15 slowest tests at {rev[:12]} (setup + call + teardown, s)")
        slowest = sorted((t for row in rows for t in row[3]), reverse=True)[:15]
        for seconds, test, _ in slowest:
            print(f"{seconds:8.1f}  {test}")
    return int(any(rc for rows in results.values() for _, rc, _, _ in rows))


if __name__ == "__main__":
    sys.exit(main())
