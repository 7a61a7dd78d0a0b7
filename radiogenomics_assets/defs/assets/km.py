"""``evaluation/km_figures``: Kaplan–Meier curves of each model's high- and low-risk patients.

Per protocol and model, the test patients of repeat 1's folds are pooled (each once), split at
their fold's training median risk, and compared by the log-rank test
(:mod:`radiogenomics_assets.survival.km`). One PNG per protocol and model goes to the file store
under ``figures/km/``; the recommended protocol's are also shown in the asset's metadata. A
model whose groups cannot be compared (every test risk tied, say) is named, not drawn.
"""

# No "from __future__ import annotations": Dagster reads these annotations at definition time.

import base64

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, MetadataValue, Output, asset

from radiogenomics_assets.cohort.outcomes import usable_outcomes
from radiogenomics_assets.defs.assets.evaluation import MODEL_DEPS, stored_predictions
from radiogenomics_assets.defs.assets.outputs import table_output
from radiogenomics_assets.defs.assets.versions import with_code_version
from radiogenomics_assets.defs.names import COHORT, EVALUATION
from radiogenomics_assets.defs.resources.cohort import CohortResource
from radiogenomics_assets.defs.resources.store import StoreResource
from radiogenomics_assets.survival.figures import time_axis_label
from radiogenomics_assets.survival.km import KMInputError, km_comparison, km_figure, risk_groups
from radiogenomics_assets.survival.results import model_label
from radiogenomics_assets.survival.study_protocol import HEADLINE_PROTOCOL, PROTOCOL_NAMES
from radiogenomics_assets.survival.study_results import with_repeat

COLUMNS = [
    "protocol",
    "model",
    "n_high",
    "n_low",
    "events_high",
    "events_low",
    "chi2",
    "p_value",
    "path",
    "sha256",
]


@with_code_version
@asset(
    key_prefix=EVALUATION,
    group_name=EVALUATION,
    ins={
        "outcomes": AssetIn(key=[COHORT, "outcomes"]),
        "results_table": AssetIn(key=[EVALUATION, "results_table"]),
    },
    deps=MODEL_DEPS,
    kinds={"duckdb", "png"},
    description="Per protocol and model of Table 1: Kaplan–Meier curves of the high- and "
    "low-risk test patients (risk above / at or below the fold's training median), pooled over "
    "the folds of repeat 1, with the log-rank p-value (scikit-survival's compare_survival) and "
    "the numbers at risk under the axis; PNGs in the file store, the recommended protocol's in "
    "metadata.",
)
def km_figures(
    context: AssetExecutionContext,
    store: StoreResource,
    cohort: CohortResource,
    outcomes: pd.DataFrame,
    results_table: pd.DataFrame,
) -> Output[pd.DataFrame]:
    usable = usable_outcomes(outcomes)
    time_label = time_axis_label(cohort.origin)
    stored = stored_predictions(store, sorted(set(results_table["model"])))
    rows, images, refused = [], [], []
    for protocol in PROTOCOL_NAMES:
        in_table = results_table.loc[results_table["protocol"] == protocol, "model"]
        for model in in_table:
            predictions = with_repeat(stored[model])
            first = predictions[
                (predictions["protocol"] == protocol) & (predictions["repeat"] == 1)
            ]
            try:
                comparison = km_comparison(risk_groups(first), usable)
            except KMInputError as error:
                refused.append(f"{model} ({protocol}): {error}")
                continue
            title = f"{model_label(model)}, {protocol} protocol: test patients of repeat 1"
            png = km_figure(comparison, title=title, time_label=time_label)
            file = store.files.write_bytes(png, "figures", "km", f"{protocol}_{model}.png")
            rows.append(
                {
                    "protocol": protocol,
                    "model": model,
                    "n_high": comparison.n["high"],
                    "n_low": comparison.n["low"],
                    "events_high": comparison.events["high"],
                    "events_low": comparison.events["low"],
                    "chi2": comparison.chi2,
                    "p_value": comparison.p_value,
                    "path": file.relpath,
                    "sha256": file.sha256,
                }
            )
            if protocol == HEADLINE_PROTOCOL:
                encoded = base64.b64encode(png).decode()
                images.append(f"**{model}**\n\n![{model}](data:image/png;base64,{encoded})")
    for line in refused:
        context.log.warning(f"no KM figure: {line}")
    return table_output(
        pd.DataFrame(rows, columns=COLUMNS),
        metadata={
            "figures": MetadataValue.md("\n\n".join(images) or "no figure"),
            "time_axis": time_label,
            "not_drawn": "\n".join(refused) or "none",
        },
    )


km_assets = [km_figures]
