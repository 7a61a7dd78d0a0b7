"""The paper's ReLU risk layer against the default linear one, on a materialized store.

    python benchmarks/relu_output.py [path/to/radiogenomics.duckdb] [--models mlp_g,lf_g_p]

Refits each net (default: the genomics + pyradiomics ones) on every fold twice, with the
registry's ``output_activation`` set to ``linear`` and to ``relu``, and prints per model and
activation the mean test C-index, how many of the grid's configurations ended on a validation
C-index of exactly 0.50 (a dead output: one constant risk, every pair tied), and on how many
folds the chosen model predicts a constant. Nothing is written to the store.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
from alpha_selection import SEED, load

from radiogenomics_assets.config import DATABASE_FILE, radiogenomics_home
from radiogenomics_assets.survival.fitting import constant_prediction, fit_predict
from radiogenomics_assets.survival.registry import get_spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database", nargs="?", default=radiogenomics_home() / DATABASE_FILE)
    parser.add_argument("--models", default="mlp_g,mlp_p,if_g_p,lf_g_p")
    args = parser.parse_args()
    blocks, outcomes, splits = load(Path(args.database))
    folds = sorted(splits["fold"].unique())
    print(f"{len(folds)} folds of {args.database}\n")
    print("| model | risk layer | mean test C | configurations at validation C 0.50 | constant |")
    print("|---|---|---|---|---|")
    for name in args.models.split(","):
        spec = get_spec(name)
        for activation in ("linear", "relu"):
            variant = dataclasses.replace(
                spec,
                hyperparameters={**spec.hyperparameters, "output_activation": activation},
            )
            test_c, dead, constant = [], 0, 0
            for fold in folds:
                fitted = fit_predict(
                    variant, blocks, outcomes, splits[splits["fold"] == fold], seed=SEED
                )
                test_c.append(fitted.test_c_index)
                dead += sum(o.best_validation_c == 0.5 for o in fitted.grid.outcomes)
                constant += constant_prediction(fitted.predictions)
            total = len(folds) * len(fitted.grid.outcomes)
            print(
                f"| {name} | {activation} | {np.mean(test_c):.2f} | {dead} / {total} | "
                f"{constant} / {len(folds)} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
