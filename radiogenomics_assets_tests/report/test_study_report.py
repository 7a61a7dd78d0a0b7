"""The study report page, rendered from small result tables written here (no Dagster)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib import image as mpimg

from radiogenomics_assets.defs.assets.km import COLUMNS as KM_COLUMNS
from radiogenomics_assets.report.content import ReportInputError, StoredResults, study_report
from radiogenomics_assets.report.render import library_versions, render_report
from radiogenomics_assets.store.files import FileStore
from radiogenomics_assets.survival.results import model_label
from radiogenomics_assets_tests.report.page_checks import (
    decoded_images,
    external_references,
    model_rows,
    protocol_sections,
    text_of,
)

PROTOCOLS = ("recommended", "paper")
FOLDS = [f"fold_{n}" for n in range(1, 6)]
#: Model → Table 1 half.
MODELS = {"cox_g": "1a", "cox_lf_g_p": "1a", "mlp_g": "1b"}
ODD_PATIENT = "R01-<b>&'x\""


def _png(files: FileStore, seed: int, *parts: str):
    pixels = np.random.default_rng(seed).random((12, 16, 3))
    buffer = io.BytesIO()
    mpimg.imsave(buffer, pixels, format="png")
    return files.write_bytes(buffer.getvalue(), *parts)


def _result_row(rng: np.random.Generator, model: str, half: str) -> dict:
    folds = rng.uniform(0.3, 0.9, len(FOLDS))
    return {
        "model": model,
        "label": model_label(model),
        "paper_table": half,
        **dict(zip(FOLDS, folds, strict=True)),
        "mean": folds.mean(),
        "sd": folds.std(ddof=1),
        "ci_low": folds.min(),
        "ci_high": folds.max(),
        "n_boot": 1000,
        "mean_all": folds.mean(),
        "sd_all": folds.std(ddof=1),
        "n_folds_all": 5,
        "n_repeats": 1,
        "null_model_folds": "fold_3" if model == "cox_lf_g_p" else "",
    }


def stored_results(files: FileStore, seed: int = 0) -> StoredResults:
    rng = np.random.default_rng(seed)
    results = pd.DataFrame(
        [
            {"protocol": protocol, **_result_row(rng, model, half)}
            for protocol in PROTOCOLS
            for model, half in MODELS.items()
        ]
    )
    metrics = pd.DataFrame(
        [
            {
                "model": model,
                "fold": fold,
                "split": "test",
                "repeat": 1,
                "protocol": protocol,
                "model_partition": f"{fold}|{protocol}",
                "model_run_id": f"run-{model}-{fold}-{protocol}",
                "model_code_version": f"code-{model}",
                "model_data_version": f"data-{model}-{fold}",
            }
            for protocol in PROTOCOLS
            for model in MODELS
            for fold in FOLDS
        ]
    )
    lineage = pd.DataFrame(
        [
            {
                "asset_key": f"modeling/{row.model}",
                "partition": row.model_partition,
                "run_id": row.model_run_id,
                "materialized_at": pd.Timestamp("2026-12-05 10:00:00"),
                "code_version": row.model_code_version,
                "data_version": row.model_data_version,
                "input_asset_key": "features/gene_expression",
                "input_data_version": f"genes-{row.fold}",
            }
            for row in metrics.itertuples()
        ]
    )
    fig2, km = [], []
    for p, protocol in enumerate(PROTOCOLS):
        for f, fold in enumerate(FOLDS):
            for panel in ("linear", "neural"):
                name = f"td_auc_{protocol}_{fold}_{panel}.png"
                file = _png(files, 100 * p + f, "figures", name)
                fig2.append([protocol, fold, panel, file.relpath, file.bytes, file.sha256])
        for m, model in enumerate(MODELS):
            file = _png(files, 1000 + 10 * p + m, "figures", "km", f"{protocol}_{model}.png")
            km.append([protocol, model, 10, 9, 6, 3, 2.5, 0.11, file.relpath, file.sha256])
    return StoredResults(
        results=results,
        gains=pd.DataFrame(
            [
                {
                    "protocol": protocol,
                    "fusion_model": "cox_lf_g_p",
                    "best_single_model": "cox_g",
                    "n_folds": 5,
                    "mean_gain": 0.04,
                    "sd_gain": 0.02,
                    "t_statistic": 1.7,
                    "p_value": 0.16,
                    "ci_low": -0.01,
                    "ci_high": 0.09,
                }
                for protocol in PROTOCOLS
            ]
        ),
        fig2=pd.DataFrame(fig2, columns=["protocol", "fold", "panel", "path", "bytes", "sha256"]),
        km=pd.DataFrame(km, columns=KM_COLUMNS),
        consort_flow=pd.DataFrame(
            {
                "step": [0, 1],
                "criterion": ["clinical_labels", "no_rnaseq"],
                "description": ["patients in the clinical labels", "has RNA-seq"],
                "patients_remaining": [3, 2],
                "patients_removed": [0, 1],
            }
        ),
        patients=pd.DataFrame(
            {
                "patient_id": ["R01-001", "R01-002", ODD_PATIENT],
                "included": [True, True, False],
                "exclusion_reason": [None, None, "no_rnaseq"],
                "exclusion_detail": [None, None, "no <RNA-seq> value"],
            }
        ),
        fold_metrics=metrics,
        lineage=lineage,
        oracle=pd.DataFrame([_result_row(rng, "oracle", "1a")]),
    )


def _page(files: FileStore, stored: StoredResults, description: str = "A study.") -> str:
    report = study_report(
        stored,
        files,
        title="Study test",
        description=description,
        rendered_at="2026-12-05T10:00:00+00:00",
        run_id="run-of-the-report",
        protocols=PROTOCOLS,
        headline="recommended",
        settings={"modeling": {"seed": 7, "net": {"weight_decays": [0.0, 0.001]}}},
        versions=library_versions(),
    )
    return render_report(report)


@pytest.fixture
def files(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "files")


def test_every_model_appears_with_its_numbers_under_each_protocol(files: FileStore) -> None:
    stored = stored_results(files)
    sections = protocol_sections(_page(files, stored))
    assert list(sections) == list(PROTOCOLS)
    for protocol, section in sections.items():
        rows = model_rows(section)
        for result in stored.results[stored.results["protocol"] == protocol].itertuples():
            table_row = rows[result.model][0]
            assert table_row.startswith(model_label(result.model))
            for fold in FOLDS:
                assert f"{getattr(result, fold):.2f}" in table_row
            assert f"{result.mean:.2f} ± {result.sd:.2f}" in table_row
            assert f"[{result.ci_low:.2f}, {result.ci_high:.2f}]" in table_row
        # The oracle closes each half of Table 1, and the fusion gain has its row.
        assert len(rows["oracle"]) == len(set(MODELS.values()))
        assert "Cox(G)" in rows["cox_lf_g_p"][1] and "0.160" in rows["cox_lf_g_p"][1]


def test_each_c_index_opens_on_its_provenance(files: FileStore) -> None:
    stored = stored_results(files)
    page = _page(files, stored)
    section = protocol_sections(page)["paper"]
    for row in stored.fold_metrics[stored.fold_metrics["protocol"] == "paper"].itertuples():
        assert row.model_run_id in section
        assert f"modeling/{row.model}[{row.model_partition}]" in section
        assert f"genes-{row.fold}" in section
    # One expandable entry per C-index of repeat 1 (the oracle's have no run), both protocols.
    assert page.count('<details class="prov">') == len(stored.fold_metrics)


def test_every_figure_is_an_embedded_png_that_decodes_and_nothing_is_fetched(
    files: FileStore,
) -> None:
    stored = stored_results(files)
    page = _page(files, stored)
    assert sorted(decoded_images(page)) == [(12, 16)] * (len(stored.fig2) + len(stored.km))
    assert external_references(page) == []


def test_the_consort_flow_names_each_excluded_patient_and_text_is_escaped(
    files: FileStore,
) -> None:
    page = _page(files, stored_results(files), description="<script>alert(1)</script>")
    assert "<script" not in page and "<b>" not in page
    cohort = page[page.index('<section id="cohort">') : page.index("</section>")]
    assert f"{ODD_PATIENT} no <RNA-seq> value" in text_of(cohort)
    assert "n = 2" in text_of(cohort) and "1 excluded: no_rnaseq" in text_of(cohort)


def test_a_figure_that_changed_or_is_gone_is_refused_by_name(files: FileStore) -> None:
    stored = stored_results(files)
    changed = stored.km["path"].iloc[0]
    (files.root / changed).write_bytes(b"not the recorded figure")
    with pytest.raises(ReportInputError, match=changed):
        _page(files, stored)
    (files.root / changed).unlink()
    with pytest.raises(ReportInputError, match=f"{changed} is missing"):
        _page(files, stored)
