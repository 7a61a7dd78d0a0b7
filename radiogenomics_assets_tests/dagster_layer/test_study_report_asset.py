"""``evaluation/study_report`` in the graph: its version follows the template and every setting
it shows, and `make report` finds its page or says what to run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from radiogenomics_assets.cli.report import ReportMissingError, report_path
from radiogenomics_assets.definitions import build_definitions
from radiogenomics_assets.defs.assets.report import REPORT_PARTS, STUDY_REPORT
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.defs.study import build_study
from radiogenomics_assets.report.render import TEMPLATE_DIGEST
from radiogenomics_assets.store.database import replace_table


def _version(tmp_path: Path, content: dict) -> str:
    store = StoreResource(database=str(tmp_path / "radiogenomics.duckdb"))
    defs = build_definitions(store, study=build_study(content, None))
    return defs.resolve_asset_graph().get(STUDY_REPORT).code_version


def test_its_version_carries_the_template_and_changes_with_any_setting_it_shows(
    tmp_path: Path,
) -> None:
    base = _version(tmp_path, {})
    assert TEMPLATE_DIGEST in base
    assert _version(tmp_path, {}) == base
    # A setting no other asset reads (the study's description) and one the models read.
    assert _version(tmp_path, {"description": "another wording"}) != base
    assert _version(tmp_path, {"modeling": {"seed": 11}}) != base


@pytest.fixture
def store(tmp_path: Path) -> StoreResource:
    return StoreResource(database=str(tmp_path / "radiogenomics.duckdb"))


def test_make_report_prints_the_page_its_row_names(store: StoreResource) -> None:
    with pytest.raises(ReportMissingError, match="make demo"):
        report_path(store)  # no store yet
    page = store.files.write_bytes(b"<!doctype html><title>r</title>", *REPORT_PARTS)
    with store.get_connection() as conn:
        row = pd.DataFrame([{"path": page.relpath, "sha256": page.sha256, "bytes": page.bytes}])
        replace_table(conn, "evaluation", "study_report", row)
    assert report_path(store) == page.path
    page.path.write_bytes(b"edited by hand")
    with pytest.raises(ReportMissingError, match="differs from the rendered report"):
        report_path(store)
