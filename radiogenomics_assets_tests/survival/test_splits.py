from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radiogenomics_assets.survival.splits import (
    FOLD_NAMES,
    FoldAssignmentError,
    NoEventInSplitError,
    all_fold_splits,
    assign_repeats,
    assign_test_folds,
    cv_fold_name,
    cv_fold_names,
    cv_fold_parts,
    fold_number,
    fold_order,
    split_cv_fold,
    split_event_counts,
    split_fold,
)


def _patients(n: int, n_events: int, *, seed: int = 0, prefix: str = "R01-") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    event = np.zeros(n, dtype=int)
    event[rng.choice(n, size=n_events, replace=False)] = 1
    return pd.DataFrame({"patient_id": [f"{prefix}{i:03d}" for i in range(n)], "event": event})


def test_every_patient_is_a_test_patient_in_exactly_one_fold() -> None:
    patients = _patients(107, 41)
    splits = all_fold_splits(assign_test_folds(patients, seed=3), seed=3)
    test_rows = splits[splits["split"] == "test"]
    assert sorted(test_rows["patient_id"]) == sorted(patients["patient_id"])
    assert sorted(splits["fold"].unique()) == list(FOLD_NAMES)
    # within each fold every patient appears once, in one split
    assert (splits.groupby("fold")["patient_id"].nunique() == len(patients)).all()
    assert not splits.duplicated(["fold", "patient_id"]).any()


def test_split_sizes_are_about_70_10_20() -> None:
    patients = _patients(107, 41)
    splits = all_fold_splits(assign_test_folds(patients, seed=3), seed=3)
    shares = splits.groupby(["fold", "split"]).size().unstack() / len(patients)
    assert (shares["test"].sub(0.2).abs() <= 0.02).all()
    assert (shares["validation"].sub(0.1).abs() <= 0.02).all()
    assert (shares["train"].sub(0.7).abs() <= 0.03).all()


def test_folds_are_stratified_by_event() -> None:
    patients = _patients(107, 41)
    assignment = assign_test_folds(patients, seed=3)
    counts = assignment.groupby(["test_fold", "event"]).size().unstack()
    assert (counts.max() - counts.min() <= 1).all()
    sizes = assignment["test_fold"].value_counts()
    assert sizes.max() - sizes.min() <= 1


def test_adding_patients_never_moves_an_existing_patient() -> None:
    patients = _patients(107, 41)
    before = assign_test_folds(patients, seed=3)
    newcomers = _patients(20, 8, seed=1, prefix="NEW-")
    after = assign_test_folds(pd.concat([patients, newcomers]), seed=3, previous=before)
    merged = before.merge(after, on="patient_id", suffixes=("_before", "_after"))
    assert len(merged) == len(patients)
    assert (merged["test_fold_before"] == merged["test_fold_after"]).all()
    # greedy placement keeps the strata balanced after the addition as well
    counts = after.groupby(["test_fold", "event"]).size().unstack()
    assert (counts.max() - counts.min() <= 1).all()


def test_assignment_is_seeded_and_independent_of_row_order() -> None:
    patients = _patients(60, 25)
    first = assign_test_folds(patients, seed=11)
    shuffled = assign_test_folds(patients.sample(frac=1.0, random_state=5), seed=11)
    pd.testing.assert_frame_equal(first, shuffled)
    other_seed = assign_test_folds(patients, seed=12)
    assert not first["test_fold"].equals(other_seed["test_fold"])
    assert split_fold(first, 2, seed=11).equals(split_fold(shuffled, "fold_2", seed=11))


def test_a_split_without_event_raises_naming_fold_and_split() -> None:
    patients = _patients(20, 4)
    # Hand-made assignment: fold 1's test patients are all censored.
    censored = patients[patients["event"] == 0]["patient_id"].tolist()
    folds = {patient: 2 + i % 4 for i, patient in enumerate(patients["patient_id"])}
    folds.update({patient: 1 for patient in censored[:4]})
    assignment = patients.assign(test_fold=patients["patient_id"].map(folds))
    with pytest.raises(NoEventInSplitError, match=r"no event in fold_1/test \(4 patients\)"):
        split_fold(assignment, 1, seed=0)


def test_split_event_counts_with_outcomes_and_malformed_inputs() -> None:
    patients = _patients(50, 20)
    assignment = assign_test_folds(patients, seed=0)
    splits = split_fold(assignment, 3, seed=0).drop(columns="event")
    counts = split_event_counts(splits, patients)
    assert counts["n_patients"].sum() == 50
    assert counts["n_events"].sum() == 20
    with pytest.raises(FoldAssignmentError, match="needs an event column"):
        split_event_counts(splits)
    with pytest.raises(FoldAssignmentError, match=r"test_fold outside 1..5 .*R01-000"):
        assign_test_folds(patients, seed=0, previous=assignment.assign(test_fold=9))
    with pytest.raises(FoldAssignmentError, match="fold 6 requested"):
        split_fold(assignment, 6, seed=0)
    with pytest.raises(FoldAssignmentError, match="validation_fraction"):
        split_fold(assignment, 1, seed=0, validation_fraction=0.0)
    with pytest.raises(FoldAssignmentError, match="repeats patient ids"):
        assign_test_folds(pd.concat([patients, patients.head(1)]), seed=0)
    with pytest.raises(FoldAssignmentError, match="fold must be an int"):
        fold_number("fold-1")


def test_repeat_1_keeps_the_paper_fold_names_and_later_repeats_are_named_apart() -> None:
    assert cv_fold_names(2)[:5] == FOLD_NAMES
    assert cv_fold_names(2)[5:] == tuple(f"r2_fold_{n}" for n in range(1, 6))
    for name in cv_fold_names(3):
        assert cv_fold_name(*cv_fold_parts(name)) == name
    assert fold_number("r3_fold_4") == 4
    for bad in ("r1_fold_1", "fold_0", "r2_fold", "fold-1"):
        with pytest.raises(FoldAssignmentError):
            cv_fold_parts(bad)
    assert sorted(["r2_fold_1", "fold_5", "fold_1", "r10_fold_1"], key=fold_order) == [
        "fold_1",
        "fold_5",
        "r2_fold_1",
        "r10_fold_1",
    ]


def test_each_repeat_draws_its_own_sticky_stratified_folds() -> None:
    patients = _patients(60, 20)
    repeats = assign_repeats(patients, repeats=3, seed=7)
    first = repeats[repeats["repeat"] == 1].drop(columns="repeat").reset_index(drop=True)
    pd.testing.assert_frame_equal(first, assign_test_folds(patients, seed=7))
    by_repeat = {
        r: rows.set_index("patient_id")["test_fold"] for r, rows in repeats.groupby("repeat")
    }
    assert not by_repeat[1].equals(by_repeat[2]) and not by_repeat[2].equals(by_repeat[3])
    for rows in by_repeat.values():  # every repeat stratified: events per fold differ by ≤ 1
        events = patients.set_index("patient_id")["event"].groupby(rows).sum()
        assert events.max() - events.min() <= 1
    # Sticky per repeat: a newcomer moves nobody in any repeat.
    grown = pd.concat([patients, pd.DataFrame({"patient_id": ["R01-900"], "event": [1]})])
    again = assign_repeats(grown, repeats=3, seed=7, previous=repeats)
    kept = again[again["patient_id"] != "R01-900"].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, repeats)


def test_a_later_repeats_fold_is_split_with_that_repeats_folds_and_seed() -> None:
    patients = _patients(60, 20)
    repeats = assign_repeats(patients, repeats=2, seed=7)
    splits = split_cv_fold(repeats, "r2_fold_3", seed=7)
    assert set(splits["fold"]) == {"r2_fold_3"}
    second = repeats[repeats["repeat"] == 2]
    test = set(second.loc[second["test_fold"] == 3, "patient_id"])
    assert set(splits.loc[splits["split"] == "test", "patient_id"]) == test
    with pytest.raises(FoldAssignmentError, match="repeat 3 is not in the fold assignment"):
        split_cv_fold(repeats, "r3_fold_1", seed=7)
