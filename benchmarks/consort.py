"""The CONSORT flow of every therapy rule on the real files, with the events of each test fold.

    PYTHONPATH=$PWD python benchmarks/consort.py [--data ../shared/data] [--seed 2020]

The paper reports 211 → 130 (CT, gene expression and recurrence) → 107 (no adjuvant or
neo-adjuvant therapy); which therapies it counted is not said (see the therapy rules in
``radiogenomics_assets.cohort.criteria``). For each rule, with and without the SEG requirement,
this prints the patients remaining after every criterion (removed in brackets), the events of
the study cohort, and the patients and events of each of the five test folds that
``assign_test_folds`` (stratified by event, the modeling seed) draws on a fresh store.

Inputs, read as the real-file cohort tests read them
(``radiogenomics_assets_tests.cohort.real_files``): the TCIA clinical labels, the GSE103584
z-score derivative, and the collection's own CT and SEG series from the shared IDC table with
their modality looked up in the ``idc-index-data`` index. Nothing is written.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import pandas as pd

from radiogenomics_assets.cohort.availability import availability
from radiogenomics_assets.cohort.criteria import (
    CohortCriteria,
    TherapyRule,
    apply_criteria,
    consort_flow,
    study_cohort,
)
from radiogenomics_assets.cohort.outcomes import compute_outcomes
from radiogenomics_assets.defs.resources.modeling import ModelingSettings
from radiogenomics_assets.survival.splits import N_FOLDS, assign_test_folds
from radiogenomics_assets_tests.cohort.real_files import RealInputs, load_real_inputs

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RULES: tuple[TherapyRule, ...] = get_args(TherapyRule)


@dataclass(frozen=True)
class Variant:
    """One rule's flow and study cohort split into test folds."""

    criteria: CohortCriteria
    flow: pd.DataFrame
    n_events: int
    patients_per_fold: list[int]
    events_per_fold: list[int]


def variant(real: RealInputs, criteria: CohortCriteria, seed: int) -> Variant:
    """The flow of ``criteria`` on ``real`` and the per-fold counts of its study cohort."""
    outcomes = compute_outcomes(real.typed, origin=criteria.origin)
    available = availability(real.typed["patient_id"], real.long, real.manifest)
    patients = apply_criteria(real.typed, outcomes, available, criteria)
    cohort = study_cohort(patients, outcomes)
    folds = assign_test_folds(cohort[["patient_id", "event"]], seed=seed)
    by_fold = folds.groupby("test_fold")["event"]
    sizes, events = by_fold.size(), by_fold.sum()
    return Variant(
        criteria=criteria,
        flow=consort_flow(patients, criteria),
        n_events=int(cohort["event"].sum()),
        patients_per_fold=[int(sizes.get(fold, 0)) for fold in range(1, N_FOLDS + 1)],
        events_per_fold=[int(events.get(fold, 0)) for fold in range(1, N_FOLDS + 1)],
    )


def _row(label: str, cells: list[str]) -> str:
    return "| " + " | ".join([label, *cells]) + " |"


def variants_table(variants: list[Variant]) -> str:
    """One markdown table: a column per rule, a row per flow step, then the fold counts."""
    first = variants[0].flow
    for other in variants[1:]:
        if other.flow["criterion"].tolist() != first["criterion"].tolist():
            raise ValueError("the variants of one table must enable the same criteria")
    lines = [
        _row("step", [f"`{v.criteria.therapy_rule}`" for v in variants]),
        "|---|" + "---:|" * len(variants),
    ]
    for position, step in first.iterrows():
        label = (
            f"{step['step']} therapy rule (`adjuvant_therapy`)"
            if step["criterion"] == "adjuvant_therapy"
            else f"{step['step']} {step['description']}"
        )
        cells = []
        for v in variants:
            row = v.flow.loc[position]
            removed = f" (−{row['patients_removed']})" if row["step"] else ""
            cells.append(f"{row['patients_remaining']}{removed}")
        lines.append(_row(label, cells))
    lines.append(_row("events", [str(v.n_events) for v in variants]))
    lines.append(
        _row(
            "patients per test fold",
            ["/".join(map(str, v.patients_per_fold)) for v in variants],
        )
    )
    lines.append(
        _row("events per test fold", ["/".join(map(str, v.events_per_fold)) for v in variants])
    )
    return "\n".join(lines)


def report(data: Path, seed: int) -> str:
    """The whole printed report for the files under ``data``."""
    real = load_real_inputs(data)
    parts = [
        f"CONSORT flow on the real files under {data}",
        f"test folds: {N_FOLDS}, stratified by event, assign_test_folds(seed={seed})",
        "the paper: 211 → 130 (CT, gene expression and recurrence) → 107 (no adjuvant therapy)",
    ]
    for require_seg, title in (
        (True, "SEG required (the default)"),
        (False, "SEG not required (the paper's 130 has CT, gene expression and recurrence)"),
    ):
        variants = [
            variant(real, CohortCriteria(require_seg=require_seg, therapy_rule=rule), seed)
            for rule in RULES
        ]
        parts += ["", f"## {title}", "", variants_table(variants)]
    parts += ["", "therapy rules, what the therapy step keeps:"]
    parts += [f"- `{rule}`: {CohortCriteria(therapy_rule=rule).enabled()[-1][1]}" for rule in RULES]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help=f"the shared data folder (default {DEFAULT_DATA})",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=ModelingSettings().seed,
        help="the fold assignment's seed (default: the modeling settings' seed)",
    )
    args = parser.parse_args(argv)
    print(report(args.data, args.seed))


if __name__ == "__main__":
    main()
