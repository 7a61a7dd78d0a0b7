"""The paper's 107-patient genomics-only study on the real files, through `make refresh`'s command.

The shipped ``studies/paper_107_genomics.yaml`` with the ``local`` source's variables pointing at
the real TCIA clinical CSV and the z-scored GSE103584 derivative in ``../shared/data``; only the
nets' grid and the repeats are made small for CI (a copy of the file with a ``modeling`` section).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from radiogenomics_assets.defs.resources.source import LOCAL_CLINICAL_ENV, LOCAL_RNASEQ_ENV
from radiogenomics_assets.defs.study import STUDY_ENV
from radiogenomics_assets_tests.conftest import REPO_ROOT
from radiogenomics_assets_tests.dagster_layer.test_cohort_real_files import (
    CLINICAL,
    ZSCORE,
    _expected_flow,
)
from radiogenomics_assets_tests.dagster_layer.walked_graph import SMALL_NET_FIELDS

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module")
def refreshed(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("paper_107_genomics")
    study = yaml.safe_load((REPO_ROOT / "studies" / "paper_107_genomics.yaml").read_text())
    study["modeling"] = {"cv_repeats": 1, "net": SMALL_NET_FIELDS}
    study_file = root / "study.yaml"
    study_file.write_text(yaml.safe_dump(study))
    overridden = ("RADIOGENOMICS_", "DAGSTER_HOME")
    env = {k: v for k, v in os.environ.items() if not k.startswith(overridden)}
    env.update(
        {
            "RADIOGENOMICS_HOME": str(root / "home"),
            "DAGSTER_HOME": str(root / "home" / "dagster_home"),
            STUDY_ENV: str(study_file),
            LOCAL_CLINICAL_ENV: str(shared_data / CLINICAL),
            LOCAL_RNASEQ_ENV: str(shared_data / ZSCORE),
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "radiogenomics_assets.cli.refresh", "--workers", "2"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return root / "home" / "radiogenomics.duckdb", done.stdout


def _query(database: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def test_table1_holds_the_genomics_models_under_both_protocols(refreshed) -> None:
    database, output = refreshed
    assert ", 0 failed." in output
    rows = _query(
        database,
        "SELECT model, protocol, [fold_1, fold_2, fold_3, fold_4, fold_5] "
        "FROM evaluation.results_table ORDER BY model, protocol",
    )
    assert [(m, p) for m, p, _ in rows] == [
        ("cox_g", "paper"),
        ("cox_g", "recommended"),
        ("mlp_g", "paper"),
        ("mlp_g", "recommended"),
    ]
    for *_, folds in rows:
        assert all(0.0 <= c <= 1.0 for c in folds)


def test_the_cohort_is_the_rule_applied_to_the_real_files(refreshed, shared_data: Path) -> None:
    database, _ = refreshed
    expected = _expected_flow(shared_data, "keep_chemoradiation")[-1]
    [(n,)] = _query(database, "SELECT count(*) FROM cohort.study_cohort")
    assert n == expected


def test_no_imaging_was_read_and_the_transform_was_chosen(refreshed) -> None:
    database, _ = refreshed
    tables = {
        f"{schema}.{name}"
        for schema, name in _query(
            database, "SELECT table_schema, table_name FROM information_schema.tables"
        )
    }
    assert not {"raw.ct_series", "features.nodule_volume", "features.radiomic_table"} & tables
    assert not {
        t
        for t in tables
        if t.startswith("modeling.")
        and t.split(".")[1]
        not in (
            "cox_g",
            "mlp_g",
            "fold_assignment",
            "fold_splits",
            "model_registry",
        )
    }
    # The z-scored derivative has negative values: auto leaves it as it is.
    [(low,)] = _query(database, "SELECT min(expression) FROM features.gene_expression")
    assert low < 0
