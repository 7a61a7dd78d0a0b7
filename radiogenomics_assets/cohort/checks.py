"""Data contracts of the cohort and expression tables, as pure functions.

Each check returns a :class:`CheckOutcome` naming the offending ids (patients, or gene symbols
for gene checks); the Dagster layer turns it into an asset check result with that severity.
Blocking: unique patient ids, positive times, at least one event, expression present for every
selected gene of every cohort patient. Warn: all-NA genes, mostly-NA patients.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pandas as pd

Severity = Literal["blocking", "warn"]

_MAX_LISTED = 50


@dataclass(frozen=True)
class CheckOutcome:
    """One check's verdict: ``passed`` and, when not, the sorted ``offending_ids``."""

    name: str
    severity: Severity
    passed: bool
    offending_ids: tuple[str, ...]
    message: str


def _outcome(
    name: str, severity: Severity, offending: list[str], ok: str, bad: str
) -> CheckOutcome:
    offending = sorted(set(offending))
    if not offending:
        return CheckOutcome(name, severity, True, (), ok)
    shown = ", ".join(offending[:_MAX_LISTED])
    more = f" and {len(offending) - _MAX_LISTED} more" if len(offending) > _MAX_LISTED else ""
    return CheckOutcome(
        name, severity, False, tuple(offending), f"{bad} ({len(offending)}): {shown}{more}"
    )


def _require(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{name} check needs column(s) {missing}; got {list(frame.columns)}")


def check_unique_patient_ids(frame: pd.DataFrame, table: str = "table") -> CheckOutcome:
    """Blocking: no ``patient_id`` appears twice (or is NULL) in ``frame``.

    Raises:
        ValueError: ``frame`` has no ``patient_id`` column.
    """
    _require(frame, ["patient_id"], "unique_patient_ids")
    ids = frame["patient_id"]
    offending = ids[ids.duplicated(keep=False)].dropna().astype(str).tolist()
    if ids.isna().any():
        offending.append("<NULL>")
    return _outcome(
        "unique_patient_ids",
        "blocking",
        offending,
        f"{len(ids)} patient ids in {table}, all distinct",
        f"patient ids repeated or NULL in {table}",
    )


def check_positive_days(cohort: pd.DataFrame) -> CheckOutcome:
    """Blocking: every patient of the study cohort has ``days`` > 0 (NULL fails).

    Raises:
        ValueError: ``cohort`` lacks ``patient_id`` or ``days``.
    """
    _require(cohort, ["patient_id", "days"], "positive_days")
    days = pd.to_numeric(cohort["days"], errors="coerce")
    bad = days.isna() | (days <= 0)
    return _outcome(
        "positive_days",
        "blocking",
        cohort.loc[bad.to_numpy(), "patient_id"].astype(str).tolist(),
        f"all {len(cohort)} cohort patients have a positive time",
        "cohort patients with a missing or non-positive time",
    )


def check_has_events(cohort: pd.DataFrame) -> CheckOutcome:
    """Blocking: at least one recurrence in the cohort (else every patient is listed).

    Raises:
        ValueError: ``cohort`` lacks ``patient_id`` or ``event``.
    """
    _require(cohort, ["patient_id", "event"], "has_events")
    n_events = int(pd.to_numeric(cohort["event"], errors="coerce").fillna(0).eq(1).sum())
    offending = [] if n_events else cohort["patient_id"].astype(str).tolist()
    if not n_events and cohort.empty:
        offending = ["<empty cohort>"]
    return _outcome(
        "has_events",
        "blocking",
        offending,
        f"{n_events} events among {len(cohort)} cohort patients",
        "no recurrence event in the cohort; every patient is censored",
    )


def check_expression_complete(
    patient_ids: Sequence[str], matrix: pd.DataFrame, genes: Sequence[str]
) -> CheckOutcome:
    """Blocking: every cohort patient has a value for every selected gene in ``matrix``.

    ``matrix`` is patients × genes (index ``patient_id``). A patient absent from the matrix,
    or with NaN in a selected gene, is offending; a selected gene absent from the matrix makes
    every patient offending and is named in the message.
    """
    ids = [str(patient) for patient in patient_ids]
    absent_genes = [gene for gene in genes if gene not in matrix.columns]
    if absent_genes:
        return CheckOutcome(
            "expression_complete",
            "blocking",
            False,
            tuple(sorted(set(ids))),
            f"{len(absent_genes)} selected gene(s) absent from the expression matrix, so no "
            f"cohort patient has them: {absent_genes[:20]}",
        )
    absent = [patient for patient in ids if patient not in matrix.index]
    present = [patient for patient in ids if patient in matrix.index]
    values = matrix.loc[present, list(genes)]
    with_na = values.index[values.isna().any(axis=1)].astype(str).tolist()
    return _outcome(
        "expression_complete",
        "blocking",
        absent + with_na,
        f"all {len(ids)} cohort patients have all {len(genes)} selected genes",
        "cohort patients without expression for every selected gene",
    )


def check_all_na_genes(long: pd.DataFrame) -> CheckOutcome:
    """Warn: gene symbols with no measured value in ``long`` (``gene, expression``)."""
    _require(long, ["gene", "expression"], "all_na_genes")
    measured = long["expression"].notna().groupby(long["gene"]).any()
    return _outcome(
        "all_na_genes",
        "warn",
        measured.index[~measured.to_numpy()].astype(str).tolist(),
        f"every one of {len(measured)} genes has at least one value",
        "genes with no measured value",
    )


def check_mostly_na_patients(long: pd.DataFrame, threshold: float = 0.5) -> CheckOutcome:
    """Warn: patients whose fraction of NA cells in ``long`` exceeds ``threshold``.

    Raises:
        ValueError: ``threshold`` outside [0, 1] or a column missing.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
    _require(long, ["patient_id", "expression"], "mostly_na_patients")
    fraction = long["expression"].isna().groupby(long["patient_id"]).mean()
    return _outcome(
        "mostly_na_patients",
        "warn",
        fraction.index[(fraction > threshold).to_numpy()].astype(str).tolist(),
        f"no patient has more than {threshold:.0%} NA values",
        f"patients with more than {threshold:.0%} NA values",
    )
