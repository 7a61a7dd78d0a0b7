"""Cohort and expression tables go into DuckDB with their types and answer the documented SQL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from radiogenomics_assets.cohort.clinical import type_clinical_labels
from radiogenomics_assets.cohort.criteria import apply_criteria, consort_flow, study_cohort
from radiogenomics_assets.cohort.outcomes import compute_outcomes
from radiogenomics_assets.omics.expression import clean_expression
from radiogenomics_assets.store.database import connect, replace_table
from radiogenomics_assets_tests.cohort.builders import availability_frame, raw_clinical


def test_cohort_tables_round_trip_with_their_types(tmp_path: Path) -> None:
    typed = type_clinical_labels(
        raw_clinical({}, {"adjuvant_treatment": "Yes"}, {"recurrence": "Not collected"})
    )
    outcomes = compute_outcomes(typed)
    patients = apply_criteria(
        typed, outcomes, availability_frame(typed["patient_id"].tolist(), no_seg=("P-003",))
    )
    database = tmp_path / "store.duckdb"
    with connect(database) as conn:
        replace_table(conn, "cohort", "patients", patients)
        replace_table(conn, "cohort", "outcomes", outcomes)
        replace_table(conn, "cohort", "study_cohort", study_cohort(patients, outcomes))
        replace_table(conn, "cohort", "consort_flow", consort_flow(patients))
        types = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'cohort' AND table_name = ?",
                ["patients"],
            ).fetchall()
        )
        reasons = conn.execute(
            "SELECT patient_id, included, exclusion_reason FROM cohort.patients ORDER BY 1"
        ).fetchall()
        event_days = conn.execute(
            "SELECT event, days FROM cohort.study_cohort WHERE patient_id = ?", ["P-001"]
        ).fetchone()
        remaining = conn.execute(
            "SELECT patients_remaining FROM cohort.consort_flow ORDER BY step DESC LIMIT 1"
        ).fetchone()
    assert types["included"] == "BOOLEAN"
    assert types["event"] == "TINYINT"
    assert types["days"] == "BIGINT"
    assert types["ct_date"].startswith("TIMESTAMP")
    assert types["exclusion_reason"] == "VARCHAR"
    assert reasons == [
        ("P-001", True, None),
        ("P-002", False, "adjuvant_therapy"),
        ("P-003", False, "no_seg"),
    ]
    assert event_days == (1, int(outcomes.loc[0, "days"]))
    assert remaining == (1,)


def test_expression_long_form_answers_one_gene_and_one_patient(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    patients = [f"R-{i:03d}" for i in range(12)]
    genes = [f"G{j:03d}" for j in range(40)]
    long = pd.DataFrame(
        [
            {"patient_id": p, "gene": g, "expression": float(rng.gamma(2.0)), "source_line": j}
            for j, g in enumerate(genes, start=2)
            for p in patients
        ]
    )
    result = clean_expression(long, patients)
    with connect(tmp_path / "store.duckdb") as conn:
        replace_table(conn, "features", "gene_expression", result.long)
        one_gene = conn.execute(
            "SELECT patient_id, expression FROM features.gene_expression WHERE gene = ? "
            "ORDER BY patient_id",
            ["G007"],
        ).fetchall()
        one_patient = conn.execute(
            "SELECT gene, expression FROM features.gene_expression WHERE patient_id = ? "
            "ORDER BY gene",
            ["R-005"],
        ).fetchall()
    assert [value for _, value in one_gene] == result.matrix["G007"].sort_index().tolist()
    assert [value for _, value in one_patient] == result.matrix.loc["R-005"].tolist()
