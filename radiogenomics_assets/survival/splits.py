"""Five-fold 70/10/20 train/validation/test splits, stratified by event and stable under additions.

The paper evaluates on five folds, each split 70/10/20 into train/validation/test and stratified
by recurrence. Here every patient is the test patient of exactly one fold, and the assignment is
built to survive a growing cohort:

* **Test folds** (:func:`assign_test_folds`). Patients already assigned (``previous``) keep their
  fold. New patients are visited in a seeded hash order of their ids (sha256 of
  ``"<seed>:<patient_id>"``), and each goes to the fold holding the fewest patients of its event
  stratum; ties go to the fold with the fewest patients overall, then to the smallest fold number.
  A fresh run is therefore stratified (per-stratum counts differ by at most one) and balanced, the
  order does not depend on the row order of the input, and adding patients never moves anyone.
  (The overall-size tie-break keeps folds within one patient of each other; breaking ties by fold
  number alone would pile the rounding remainders of both strata on fold 1.)
* **Validation rows** (:func:`split_fold`). Within a fold, the non-test patients of each event
  stratum are ranked by sha256 of ``"<seed>:<fold>:<patient_id>"``; the first
  ``round(validation_fraction * stratum size in the whole cohort)`` (at least one where the
  stratum has two or more non-test patients) are the validation split, the rest train. A patient's
  rank never changes when others join, so an addition moves at most the few patients at the
  boundary of the count.
* **Repeated cross-validation** (:func:`cv_fold_name`, :func:`repeat_seed`). Repeat ``r`` draws
  its own five folds the same way with a seed derived from the study seed and ``r``; repeat 1
  uses the study seed itself and keeps the paper's fold names ``fold_<n>``, later repeats are
  ``r<r>_fold_<n>``. Each repeat's assignment is sticky on its own.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Literal

import numpy as np
import pandas as pd

from radiogenomics_assets.ids import validate_patient_id

Split = Literal["train", "validation", "test"]
SPLITS: tuple[Split, ...] = ("train", "validation", "test")
N_FOLDS = 5
FOLD_NAMES: tuple[str, ...] = tuple(f"fold_{number}" for number in range(1, N_FOLDS + 1))


class FoldAssignmentError(ValueError):
    """Inputs to the fold assignment are malformed (ids, events, previous folds, fold numbers)."""


class NoEventInSplitError(ValueError):
    """A split of a fold holds no recurrence, so no C-index or Cox fit is possible on it."""


def fold_name(fold: int) -> str:
    """``fold_<n>`` for fold number ``n`` (1-based)."""
    return f"fold_{fold}"


_CV_FOLD = re.compile(r"^(?:r(?P<repeat>[1-9][0-9]*)_)?fold_(?P<fold>[0-9]+)$")


def cv_fold_name(repeat: int, fold: int) -> str:
    """The partition key of fold ``fold`` of repeat ``repeat``: ``fold_3`` in repeat 1 (the
    paper's names), ``r2_fold_3`` in later repeats."""
    if repeat < 1 or fold < 1:
        raise FoldAssignmentError(f"repeat and fold start at 1, got repeat {repeat}, fold {fold}")
    return fold_name(fold) if repeat == 1 else f"r{repeat}_{fold_name(fold)}"


def cv_fold_parts(name: str) -> tuple[int, int]:
    """``(repeat, fold)`` of a name made by :func:`cv_fold_name`.

    Raises:
        FoldAssignmentError: the name is not ``fold_<n>`` or ``r<r>_fold_<n>`` (``r`` ≥ 2).
    """
    match = _CV_FOLD.fullmatch(str(name))
    repeat = int(match["repeat"] or 1) if match else 0
    if not match or (match["repeat"] and repeat == 1) or int(match["fold"]) < 1:
        raise FoldAssignmentError(f"expected 'fold_<n>' or 'r<repeat ≥ 2>_fold_<n>', got {name!r}")
    return repeat, int(match["fold"])


def cv_fold_names(repeats: int, n_folds: int = N_FOLDS) -> tuple[str, ...]:
    """Every partition key of ``repeats`` repeats, repeat by repeat."""
    if repeats < 1:
        raise FoldAssignmentError(f"cv_repeats must be at least 1, got {repeats}")
    return tuple(cv_fold_name(r, f) for r in range(1, repeats + 1) for f in range(1, n_folds + 1))


def repeat_seed(seed: int, repeat: int) -> int:
    """The seed of one repeat: the study seed for repeat 1 (so its folds are the paper-layout
    folds drawn before repeats existed), a hash of both for the others."""
    if repeat == 1:
        return seed
    return int(_hash_key(seed, "repeat", repeat)[:8], 16)


def fold_number(fold: int | str) -> int:
    """The 1-based fold number of ``3``, ``"fold_3"`` or ``"r2_fold_3"``.

    Raises:
        FoldAssignmentError: the value is neither a positive int nor a fold name.
    """
    if isinstance(fold, bool):
        raise FoldAssignmentError(f"fold must be an int or 'fold_<n>', got {fold!r}")
    if isinstance(fold, int | np.integer):
        number = int(fold)
    elif isinstance(fold, str) and _CV_FOLD.fullmatch(fold):
        number = cv_fold_parts(fold)[1]
    else:
        raise FoldAssignmentError(
            f"fold must be an int, 'fold_<n>' or 'r<repeat>_fold_<n>', got {fold!r}"
        )
    if number < 1:
        raise FoldAssignmentError(f"fold numbers start at 1, got {fold!r}")
    return number


def fold_order(fold: object) -> tuple[int, int, int, str]:
    """Sort key of fold names (or numbers): repeat, then fold number; other values last."""
    try:
        if isinstance(fold, str):
            return (0, *cv_fold_parts(fold), "")
        return (0, 1, fold_number(fold), "")  # type: ignore[arg-type]
    except FoldAssignmentError:
        return (1, 0, 0, str(fold))


def _hash_key(*parts: object) -> str:
    return hashlib.sha256(":".join(str(part) for part in parts).encode()).hexdigest()


def _check_patients(patients: pd.DataFrame, where: str) -> pd.DataFrame:
    missing = [column for column in ("patient_id", "event") if column not in patients.columns]
    if missing:
        raise FoldAssignmentError(f"{where} lacks columns {missing}; got {list(patients.columns)}")
    for patient_id in patients["patient_id"]:
        validate_patient_id(patient_id, where=where)
    repeated = patients["patient_id"].duplicated(keep=False)
    if repeated.any():
        raise FoldAssignmentError(
            f"{where} repeats patient ids: {sorted(set(patients.loc[repeated, 'patient_id']))}"
        )
    events = pd.to_numeric(patients["event"].astype("object"), errors="coerce")
    bad = ~events.isin((0, 1))
    if bad.any():
        raise FoldAssignmentError(
            f"{where}: event must be 0 or 1, bad rows for patients "
            f"{patients.loc[bad, 'patient_id'].tolist()[:10]}"
        )
    return pd.DataFrame(
        {"patient_id": patients["patient_id"].astype(str), "event": events.astype(int)}
    )


def assign_test_folds(
    patients: pd.DataFrame,
    *,
    n_folds: int = N_FOLDS,
    seed: int,
    previous: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Give every patient the fold in which it is a test patient (stable, stratified by event).

    Args:
        patients: columns ``patient_id`` and ``event`` (0/1), one row per patient.
        n_folds: number of folds (at least 2).
        seed: seeds the hash order in which new patients are placed.
        previous: an earlier result of this function; its patients keep their ``test_fold``.
            Patients absent from ``patients`` are dropped from the result.

    Returns:
        Columns ``patient_id, event, test_fold`` (``test_fold`` in ``1..n_folds``), sorted by id.

    Raises:
        FoldAssignmentError: fewer than two folds, bad ids or events, or a ``previous`` table
            with missing columns, repeated ids or folds outside ``1..n_folds``.
    """
    if n_folds < 2:
        raise FoldAssignmentError(f"n_folds must be at least 2, got {n_folds}")
    current = _check_patients(patients, "patients")
    kept: dict[str, int] = {}
    if previous is not None:
        if "test_fold" not in previous.columns:
            raise FoldAssignmentError(
                f"previous assignment lacks column 'test_fold'; got {list(previous.columns)}"
            )
        _check_patients(previous, "previous assignment")
        folds = pd.to_numeric(previous["test_fold"], errors="coerce")
        bad = ~folds.isin(range(1, n_folds + 1))
        if bad.any():
            raise FoldAssignmentError(
                f"previous assignment has test_fold outside 1..{n_folds} for patients "
                f"{previous.loc[bad, 'patient_id'].tolist()[:10]}"
            )
        kept = dict(zip(previous["patient_id"].astype(str), folds.astype(int), strict=True))

    event_of = dict(zip(current["patient_id"], current["event"], strict=True))
    stratum_counts = np.zeros((2, n_folds), dtype=int)
    fold_sizes = np.zeros(n_folds, dtype=int)
    assigned: dict[str, int] = {}
    for patient_id, event in event_of.items():
        if patient_id in kept:
            fold = kept[patient_id]
            assigned[patient_id] = fold
            stratum_counts[event, fold - 1] += 1
            fold_sizes[fold - 1] += 1

    newcomers = sorted(
        (patient_id for patient_id in event_of if patient_id not in assigned),
        key=lambda patient_id: (_hash_key(seed, patient_id), patient_id),
    )
    for patient_id in newcomers:
        event = event_of[patient_id]
        # lexsort sorts by its last key first: stratum count, then fold size, then fold number.
        order = np.lexsort((np.arange(n_folds), fold_sizes, stratum_counts[event]))
        slot = int(order[0])
        assigned[patient_id] = slot + 1
        stratum_counts[event, slot] += 1
        fold_sizes[slot] += 1

    result = current.assign(test_fold=current["patient_id"].map(assigned).astype(int))
    return result.sort_values("patient_id", kind="mergesort").reset_index(drop=True)


def split_fold(
    assignment: pd.DataFrame,
    fold: int | str,
    *,
    validation_fraction: float = 0.1,
    seed: int,
) -> pd.DataFrame:
    """Train/validation/test rows of one fold.

    Args:
        assignment: the output of :func:`assign_test_folds`.
        fold: fold number (1-based) or name (``fold_3``).
        validation_fraction: share of the whole cohort, per event stratum, drawn from the
            non-test patients as validation rows; in ``(0, 0.5)``.
        seed: seeds the hash order of the validation draw.

    Returns:
        Columns ``patient_id, fold`` (``fold_<n>``), ``split`` and ``event``, sorted by id.

    Raises:
        FoldAssignmentError: the fold number is out of range, the fraction is outside
            ``(0, 0.5)``, or the assignment is malformed.
        NoEventInSplitError: a split of this fold holds no event (named in the message).
    """
    number = fold_number(fold)
    if not 0.0 < validation_fraction < 0.5:
        raise FoldAssignmentError(
            f"validation_fraction must lie in (0, 0.5), got {validation_fraction}"
        )
    if "test_fold" not in assignment.columns:
        raise FoldAssignmentError(
            f"assignment lacks column 'test_fold'; got {list(assignment.columns)}"
        )
    checked = _check_patients(assignment, "fold assignment")
    test_fold = pd.to_numeric(assignment["test_fold"], errors="coerce").to_numpy()
    n_folds = int(np.nanmax(test_fold))
    if number > n_folds:
        raise FoldAssignmentError(
            f"fold {number} requested but the assignment has folds 1..{n_folds}"
        )
    frame = checked.assign(test_fold=test_fold)
    split = pd.Series("train", index=frame.index, dtype=object)
    split[frame["test_fold"] == number] = "test"
    for event in (0, 1):
        stratum = frame[frame["event"] == event]
        pool = stratum[stratum["test_fold"] != number]
        n_validation = round(validation_fraction * len(stratum))
        if n_validation == 0 and len(pool) >= 2:
            n_validation = 1
        n_validation = min(n_validation, max(len(pool) - 1, 0))
        ranked = sorted(
            pool["patient_id"],
            key=lambda patient_id: (_hash_key(seed, number, patient_id), patient_id),
        )
        chosen = set(ranked[:n_validation])
        split[frame["patient_id"].isin(chosen)] = "validation"

    result = pd.DataFrame(
        {
            "patient_id": frame["patient_id"],
            "fold": fold_name(number),
            "split": split,
            "event": frame["event"],
        }
    )
    result = result.sort_values("patient_id", kind="mergesort").reset_index(drop=True)
    require_events(split_event_counts(result))
    return result


def assign_repeats(
    patients: pd.DataFrame,
    *,
    repeats: int,
    seed: int,
    previous: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """:func:`assign_test_folds` once per repeat, each with :func:`repeat_seed` and sticky to
    its own earlier assignment in ``previous`` (rows without a ``repeat`` column are repeat 1).

    Returns:
        Columns ``repeat, patient_id, event, test_fold``, sorted by repeat and id.
    """
    if repeats < 1:
        raise FoldAssignmentError(f"cv_repeats must be at least 1, got {repeats}")
    if previous is not None and "repeat" not in previous.columns:
        previous = previous.assign(repeat=1)
    frames = []
    for repeat in range(1, repeats + 1):
        earlier = None if previous is None else previous[previous["repeat"] == repeat]
        assigned = assign_test_folds(
            patients,
            seed=repeat_seed(seed, repeat),
            previous=None if earlier is None or earlier.empty else earlier.drop(columns="repeat"),
        )
        frames.append(assigned.assign(repeat=repeat))
    columns = ["repeat", "patient_id", "event", "test_fold"]
    return pd.concat(frames, ignore_index=True)[columns]


def split_cv_fold(
    assignment: pd.DataFrame, name: str, *, validation_fraction: float = 0.1, seed: int
) -> pd.DataFrame:
    """:func:`split_fold` of the fold named ``name`` (:func:`cv_fold_name`) of the repeats in
    ``assignment`` (:func:`assign_repeats`), with that repeat's seed; ``fold`` is ``name``."""
    repeat, number = cv_fold_parts(name)
    rows = assignment[assignment["repeat"] == repeat]
    if rows.empty:
        raise FoldAssignmentError(
            f"{name}: repeat {repeat} is not in the fold assignment (repeats "
            f"{sorted(set(assignment['repeat']))}); raise cv_repeats or materialize "
            "modeling/fold_assignment again"
        )
    splits = split_fold(
        rows.drop(columns="repeat"),
        number,
        validation_fraction=validation_fraction,
        seed=repeat_seed(seed, repeat),
    )
    return splits.assign(fold=name)


def split_event_counts(splits: pd.DataFrame, outcomes: pd.DataFrame | None = None) -> pd.DataFrame:
    """Patients and events per fold and split, with a row for every split even when empty.

    Args:
        splits: rows ``patient_id, fold, split`` (one or several folds); with an ``event``
            column unless ``outcomes`` is given.
        outcomes: optional ``patient_id, event`` table supplying the events.

    Returns:
        Columns ``fold, split, n_patients, n_events``.

    Raises:
        FoldAssignmentError: no event information, or patients without an event value.
    """
    frame = splits
    if outcomes is not None:
        frame = splits.drop(columns=["event"], errors="ignore").merge(
            outcomes[["patient_id", "event"]], on="patient_id", how="left"
        )
    if "event" not in frame.columns:
        raise FoldAssignmentError("split_event_counts needs an event column or outcomes")
    if frame["event"].isna().any():
        raise FoldAssignmentError(
            "patients without an event value: "
            f"{frame.loc[frame['event'].isna(), 'patient_id'].tolist()[:10]}"
        )
    rows = []
    for fold in sorted(frame["fold"].unique(), key=fold_order):
        in_fold = frame[frame["fold"] == fold]
        for split in SPLITS:
            part = in_fold[in_fold["split"] == split]
            rows.append(
                {
                    "fold": fold,
                    "split": split,
                    "n_patients": len(part),
                    "n_events": int(part["event"].astype(int).sum()),
                }
            )
    return pd.DataFrame(rows, columns=["fold", "split", "n_patients", "n_events"])


def require_events(counts: pd.DataFrame) -> None:
    """Raise unless every fold/split row of :func:`split_event_counts` has at least one event.

    Raises:
        NoEventInSplitError: naming every fold and split without an event.
    """
    empty = counts[counts["n_events"] < 1]
    if len(empty):
        where = ", ".join(
            f"{row.fold}/{row.split} ({row.n_patients} patients)"
            for row in empty.itertuples(index=False)
        )
        raise NoEventInSplitError(f"no event in {where}; every split needs at least one event")


def all_fold_splits(
    assignment: pd.DataFrame,
    *,
    folds: Iterable[int] | None = None,
    validation_fraction: float = 0.1,
    seed: int,
) -> pd.DataFrame:
    """:func:`split_fold` for several folds (all of the assignment's by default), stacked."""
    numbers = (
        list(folds)
        if folds is not None
        else sorted(pd.to_numeric(assignment["test_fold"]).astype(int).unique())
    )
    return pd.concat(
        [
            split_fold(assignment, number, validation_fraction=validation_fraction, seed=seed)
            for number in numbers
        ],
        ignore_index=True,
    )
