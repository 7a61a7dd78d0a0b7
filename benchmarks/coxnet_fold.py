"""Time the nine CoxNet models of one fold on a realistic-size synthetic fold.

    PYTHONPATH=$PWD python benchmarks/coxnet_fold.py [--patients 150] [--genes 20000]
        [--no-reuse]

The fold has the paper's widths: ``--genes`` genes (500 kept by the top-variance selection),
107 radiomic and 1024 DenseNet features, built with the survival tests' synthetic cohort. The
models are fitted in registry order, as ``make demo`` runs a fold's model steps one after
another in one process: the single-modality models first, then each late-fusion model is handed
the single-modality fits of its blocks (reused when their fit fingerprints agree). Prints, per
model, the seconds, the CoxNet path fits it ran (``CoxnetSurvivalAnalysis.fit`` calls) and the
seconds spent fitting block preprocessing (``Pipeline.fit_transform``), then the totals and the
machine's core count. ``--no-reuse`` switches the late-fusion reuse off, for a before/after
comparison on the same code (the benchmark also runs on code without reuse). The fingerprints
are computed either way and their cost is in the seconds. Nothing is written.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline
from sksurv.linear_model import CoxnetSurvivalAnalysis

from radiogenomics_assets.survival.design import prepare_model_data
from radiogenomics_assets.survival.fusion import fit_coxnet
from radiogenomics_assets.survival.registry import MODEL_REGISTRY
from radiogenomics_assets.survival.splits import assign_test_folds, split_fold
from radiogenomics_assets_tests.survival.synthetic import make_cohort

SEED = 2020
COXNETS = [spec for spec in MODEL_REGISTRY if spec.estimator == "coxnet"]


class Counters:
    """Counts path fits and times preprocessing by wrapping the two library methods."""

    def __init__(self) -> None:
        self.path_fits = 0
        self.preprocessing_s = 0.0

    def install(self) -> None:
        original_fit: Callable[..., Any] = CoxnetSurvivalAnalysis.fit
        original_fit_transform: Callable[..., Any] = Pipeline.fit_transform
        counters = self

        def fit(model: CoxnetSurvivalAnalysis, *args: Any, **kwargs: Any) -> Any:
            counters.path_fits += 1
            return original_fit(model, *args, **kwargs)

        def fit_transform(pipeline: Pipeline, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original_fit_transform(pipeline, *args, **kwargs)
            finally:
                counters.preprocessing_s += time.perf_counter() - started

        CoxnetSurvivalAnalysis.fit = fit  # type: ignore[method-assign]
        Pipeline.fit_transform = fit_transform  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=150)
    parser.add_argument("--genes", type=int, default=20_000)
    parser.add_argument("--no-reuse", action="store_true")
    args = parser.parse_args()

    cohort = make_cohort(args.patients, seed=SEED, n_genes=args.genes, n_radiomic=107, n_deep=1024)
    assignment = assign_test_folds(cohort.outcomes[["patient_id", "event"]], seed=SEED)
    splits = split_fold(assignment, 1, seed=SEED)
    counters = Counters()
    counters.install()
    supports_reuse = "reuse" in fit_coxnet.__code__.co_varnames
    singles: dict[str, Any] = {}
    rows = []
    total_started = time.perf_counter()
    for spec in COXNETS:
        data = prepare_model_data(spec.modalities, cohort.features, cohort.outcomes, splits)
        fits_before, prep_before = counters.path_fits, counters.preprocessing_s
        started = time.perf_counter()
        extra: dict[str, Any] = {}
        if supports_reuse and not args.no_reuse and spec.fusion == "late":
            extra["reuse"] = {m: singles[m] for m in spec.modalities if m in singles}
        fitted = fit_coxnet(spec, data, alpha_selection="inner_cv", seed=SEED, **extra)
        seconds = time.perf_counter() - started
        if supports_reuse and spec.fusion == "single":
            singles[spec.modalities[0]] = fitted.reusable_fits(spec.name)[spec.modalities[0]]
        reused = ",".join(getattr(fitted, "reused_fits", ())) or "-"
        rows.append(
            (
                spec.name,
                seconds,
                counters.path_fits - fits_before,
                counters.preprocessing_s - prep_before,
                reused,
                fitted.test_c_index,
            )
        )
    total = time.perf_counter() - total_started

    print(
        f"{args.patients} patients, {args.genes} genes (500 kept), 107 radiomic, 1024 densenet; "
        f"alpha_selection inner_cv; {os.cpu_count()} cores; reuse "
        f"{'off' if args.no_reuse or not supports_reuse else 'on'}\n"
    )
    print("| model | seconds | path fits | preprocessing s | reused | test C |")
    print("|---|---:|---:|---:|---|---:|")
    for name, seconds, fits, prep, reused, c_index in rows:
        print(f"| {name} | {seconds:.2f} | {fits} | {prep:.2f} | {reused} | {c_index:.4f} |")
    prep_total = sum(row[3] for row in rows)
    print(
        f"| **total** | {total:.2f} | {sum(row[2] for row in rows)} | {prep_total:.2f} "
        f"({100 * prep_total / total:.1f}%) | | {np.mean([row[5] for row in rows]):.4f} |"
    )


if __name__ == "__main__":
    main()
