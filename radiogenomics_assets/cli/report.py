"""`make report`: print where the study report is; it opens nothing.

The page is the latest materialization of ``evaluation/study_report`` (its row in DuckDB names
the file and its sha256). Exit status 1, with what to run, when there is none yet or the file
no longer matches its row.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.store.database import table_exists
from radiogenomics_assets.store.files import sha256_file

MISSING = "no study report yet: run `make demo` (or materialize evaluation/study_report in the UI)"


class ReportMissingError(LookupError):
    """The store has no study report, or its file is gone or changed."""


def report_path(store: StoreResource) -> Path:
    """The study report's file, checked against the sha256 its row recorded.

    Raises:
        ReportMissingError: no store, no report row, or the file is missing or changed.
    """
    try:
        with store.read_connection() as conn:
            if not table_exists(conn, "evaluation", "study_report"):
                raise ReportMissingError(MISSING)
            row = conn.execute("SELECT path, sha256 FROM evaluation.study_report").fetchone()
    except FileNotFoundError as error:
        raise ReportMissingError(MISSING) from error
    if row is None:
        raise ReportMissingError(MISSING)
    path = store.files.root / row[0]
    if not path.is_file() or sha256_file(path) != row[1]:
        raise ReportMissingError(
            f"{path} is missing or differs from the rendered report: materialize "
            "evaluation/study_report again (make refresh)"
        )
    return path


def main(argv: Sequence[str] | None = None) -> int:
    del argv  # no options
    try:
        print(report_path(StoreResource()))
    except ReportMissingError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
