"""``evaluation/study_report``: the study's results as one page a researcher can open and share.

It reads the stored results (Table 1, fusion gains, the figures' file rows, the CONSORT flow,
the fold metrics and the lineage record) and renders them with :mod:`radiogenomics_assets.report`
into ``reports/study_report.html`` of the file store; its row (path, bytes, sha256) goes to
DuckDB and its path to the asset's metadata. Its code version also carries the template's digest,
which the code hash (Python only) would not see.
"""

# No "from __future__ import annotations": Dagster reads these annotations at definition time.

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetsDefinition,
    ConfigurableResource,
    MetadataValue,
    Output,
    asset,
)

from radiogenomics_assets.defs.assets.outputs import table_output
from radiogenomics_assets.defs.assets.settings_versions import (
    MARK,
    settings_digest,
    settings_values,
)
from radiogenomics_assets.defs.assets.versions import with_code_version
from radiogenomics_assets.defs.names import COHORT, EVALUATION, FEATURES
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.report.content import StoredResults, study_report
from radiogenomics_assets.report.render import TEMPLATE_DIGEST, library_versions, render_report
from radiogenomics_assets.store.database import table_exists
from radiogenomics_assets.survival.study_protocol import HEADLINE_PROTOCOL, PROTOCOL_NAMES

STUDY_REPORT = AssetKey([EVALUATION, "study_report"])
#: The report shows every setting of the study: all of them are in its code version.
REPORT_READS = dict.fromkeys(
    ("study", "source", "cohort", "settings", "expression", "radiomics", "densenet")
)
#: Where the page is written in the file store (and what `make report` prints).
REPORT_PARTS = ("reports", "study_report.html")
#: Resource keys by the study file's section names, where they differ.
STUDY_SECTIONS = {"settings": "modeling", "expression": "genomics"}
#: Headline protocol first.
PROTOCOL_ORDER = sorted(PROTOCOL_NAMES, key=lambda name: name != HEADLINE_PROTOCOL)


def _evaluation(name: str) -> AssetIn:
    return AssetIn(key=[EVALUATION, name])


def _reading_notes(store: StoreResource, *, demo: bool) -> list[str]:
    """What a reader must know before trusting the numbers: a synthetic cohort, and DenseNet
    features from untrained weights (on purpose, or the offline fallback from ImageNet's)."""
    notes = []
    if demo:
        notes.append(
            "Synthetic demo cohort: every patient is generated, with a planted true risk that "
            "the oracle row scores like a model."
        )
    with store.get_connection() as conn:
        if table_exists(conn, FEATURES, "densenet_table"):
            weights = conn.execute(
                "SELECT densenet_weights, bool_or(densenet_weights_fallback), count(*) "
                "FROM features.densenet_table GROUP BY 1 ORDER BY 1"
            ).fetchall()
            for name, fallback, n in weights:
                if fallback or str(name).startswith("random"):
                    notes.append(
                        f"DenseNet-121 features of {n} patients come from untrained {name} "
                        "weights, not ImageNet's"
                        + (" (ImageNet weights were not available offline)." if fallback else ".")
                    )
    return notes


def build_study_report(*, oracle: bool) -> AssetsDefinition:
    """``evaluation/study_report``; with ``oracle`` (the demo's graph) Table 1 ends with the
    demo oracle's row and the page says the cohort is synthetic."""
    ins = {
        "results_table": _evaluation("results_table"),
        "fusion_gain": _evaluation("fusion_gain"),
        "td_auc_figures": _evaluation("td_auc_figures"),
        "km_figures": _evaluation("km_figures"),
        "fold_metrics": _evaluation("fold_metrics"),
        "lineage": _evaluation("lineage"),
        "consort_flow": AssetIn(key=[COHORT, "consort_flow"]),
        "patients": AssetIn(key=[COHORT, "patients"]),
    }
    if oracle:
        ins["demo_oracle"] = _evaluation("demo_oracle")

    @asset(
        name="study_report",
        key_prefix=EVALUATION,
        group_name=EVALUATION,
        ins=ins,
        kinds={"duckdb", "html"},
        description="One self-contained HTML page of the study (figures embedded, no network, no "
        "script): the CONSORT flow with exclusion reasons, Table 1(a) and 1(b) per protocol (with "
        "the demo's oracle), the fusion gains, Fig. 2 and the Kaplan–Meier figures, the "
        "provenance of every C-index on click, the study's settings and library versions. "
        "Written to reports/study_report.html of the file store; `make report` prints its path.",
    )
    def study_report_asset(
        context: AssetExecutionContext,
        store: StoreResource,
        # Only dumped: the base class, so that the code version does not reach the feature and
        # model code these resources' modules import.
        study: ConfigurableResource,
        source: ConfigurableResource,
        cohort: ConfigurableResource,
        settings: ConfigurableResource,
        expression: ConfigurableResource,
        radiomics: ConfigurableResource,
        densenet: ConfigurableResource,
        results_table: pd.DataFrame,
        fusion_gain: pd.DataFrame,
        td_auc_figures: pd.DataFrame,
        km_figures: pd.DataFrame,
        fold_metrics: pd.DataFrame,
        lineage: pd.DataFrame,
        consort_flow: pd.DataFrame,
        patients: pd.DataFrame,
        **reference: pd.DataFrame,
    ) -> Output[pd.DataFrame]:
        started = time.perf_counter()
        stored = StoredResults(
            results=results_table,
            gains=fusion_gain,
            fig2=td_auc_figures,
            km=km_figures,
            consort_flow=consort_flow,
            patients=patients,
            fold_metrics=fold_metrics,
            lineage=lineage,
            oracle=reference.get("demo_oracle"),
        )
        read = {  # the resources of REPORT_READS
            "study": study,
            "source": source,
            "cohort": cohort,
            "settings": settings,
            "expression": expression,
            "radiomics": radiomics,
            "densenet": densenet,
        }
        report = study_report(
            stored,
            store.files,
            title=f"Study {study.name}: NSCLC recurrence from CT and RNA-seq",
            description=study.description,
            rendered_at=datetime.now(UTC).isoformat(timespec="seconds"),
            run_id=context.run.run_id,
            protocols=PROTOCOL_ORDER,
            headline=HEADLINE_PROTOCOL,
            settings={STUDY_SECTIONS.get(k, k): r.model_dump() for k, r in read.items()},
            versions=library_versions(),
            notes=_reading_notes(store, demo=oracle),
        )
        page = store.files.write_bytes(render_report(report).encode("utf-8"), *REPORT_PARTS)
        seconds = time.perf_counter() - started
        context.log.info(f"study report: {page.path} ({page.bytes} bytes, {seconds:.1f} s)")
        row = {
            "path": page.relpath,
            "bytes": page.bytes,
            "sha256": page.sha256,
            "rendered_at": report.rendered_at,
            "run_id": context.run.run_id,
            "n_models": len(report.models),
            "protocols": ", ".join(s.name for s in report.protocols),
        }
        return table_output(
            pd.DataFrame([row]),
            metadata={
                "report": MetadataValue.path(str(page.path)),
                "open": MetadataValue.url(page.path.as_uri()),
                "bytes": page.bytes,
                "sha256": page.sha256,
                "render_seconds": round(seconds, 2),
                "n_models": len(report.models),
            },
        )

    versioned = with_code_version(study_report_asset)
    return versioned.map_asset_specs(
        lambda spec: spec.replace_attributes(code_version=f"{spec.code_version}.{TEMPLATE_DIGEST}")
    )


def with_report_settings(
    assets: Sequence[AssetsDefinition], resources: Mapping[str, Any]
) -> list[AssetsDefinition]:
    """``assets`` with the study's settings in the study report's code version.

    As ``with_settings_versions`` does for the assets that read some settings; kept apart so
    that this asset's read set is not a constant of that module, which the cohort assets reach
    (a change there would version, and so recompute, every model).
    """

    def versioned(spec):
        if spec.key != STUDY_REPORT:
            return spec
        digest = settings_digest(settings_values(REPORT_READS, resources))
        return spec.replace_attributes(code_version=f"{spec.code_version}{MARK}{digest}")

    return [a.map_asset_specs(versioned) if STUDY_REPORT in a.keys else a for a in assets]
