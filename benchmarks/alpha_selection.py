"""Compare the three CoxNet alpha selections on a materialized store, every model and fold.

    python benchmarks/alpha_selection.py [path/to/radiogenomics.duckdb]

Reads the stored feature tables, outcomes and fold splits, refits every registered CoxNet model
with ``paper``, ``validation`` and ``inner_cv`` and prints the mean ± sd test C-index per model, the
mean over models, and the seconds each selection took. Nothing is written to the store.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from radiogenomics_assets.config import DATABASE_FILE, radiogenomics_home
from radiogenomics_assets.features.blocks import densenet_block, genomics_block, radiomics_block
from radiogenomics_assets.survival.coxnet import ALPHA_SELECTIONS
from radiogenomics_assets.survival.fitting import fit_predict
from radiogenomics_assets.survival.registry import MODEL_REGISTRY

SEED = 2020
COXNETS = [spec for spec in MODEL_REGISTRY if spec.estimator == "coxnet"]


def load(database: Path) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, pd.DataFrame]:
    with duckdb.connect(str(database), read_only=True) as conn:
        blocks = {
            "genomics": genomics_block(conn.sql("SELECT * FROM features.gene_expression").df()),
            "pyradiomics": radiomics_block(
                conn.sql("SELECT * FROM features.radiomic_features").df()
            ),
            "densenet": densenet_block(conn.sql("SELECT * FROM features.densenet_features").df()),
        }
        outcomes = conn.sql(
            "SELECT patient_id, event, days FROM cohort.outcomes WHERE outcome_problem IS NULL"
        ).df()
        # The five folds of repeat 1; the rows are the same under both protocols.
        splits = conn.sql(
            "SELECT * EXCLUDE (protocol) FROM modeling.fold_splits "
            "WHERE protocol = 'recommended' AND fold LIKE 'fold_%'"
        ).df()
    return blocks, outcomes, splits


def main() -> None:
    database = Path(sys.argv[1]) if len(sys.argv) > 1 else radiogenomics_home() / DATABASE_FILE
    blocks, outcomes, splits = load(database)
    rows, seconds = [], {}
    for selection in ALPHA_SELECTIONS:
        started = time.perf_counter()
        for spec in COXNETS:
            for fold, fold_splits in splits.groupby("fold"):
                fitted = fit_predict(
                    spec, blocks, outcomes, fold_splits, alpha_selection=selection, seed=SEED
                )
                rows.append((spec.name, selection, fold, fitted.test_c_index))
        seconds[selection] = time.perf_counter() - started
    frame = pd.DataFrame(rows, columns=["model", "selection", "fold", "c_index"])
    table = frame.pivot_table(
        index="model", columns="selection", values="c_index", aggfunc=["mean", "std"]
    )
    print(f"Test C-index over {splits['fold'].nunique()} folds ({database})\n")
    print(f"| model | {' | '.join(ALPHA_SELECTIONS)} |")
    print("|---|" + "---|" * len(ALPHA_SELECTIONS))
    for spec in COXNETS:
        cells = [
            f"{table.loc[spec.name, ('mean', s)]:.3f} ± {table.loc[spec.name, ('std', s)]:.3f}"
            for s in ALPHA_SELECTIONS
        ]
        print(f"| {spec.name} | {' | '.join(cells)} |")
    means = [np.mean(table[("mean", s)]) for s in ALPHA_SELECTIONS]
    print(f"| mean of models | {' | '.join(f'{m:.3f}' for m in means)} |")
    print(f"| seconds | {' | '.join(f'{seconds[s]:.0f}' for s in ALPHA_SELECTIONS)} |")


if __name__ == "__main__":
    main()
