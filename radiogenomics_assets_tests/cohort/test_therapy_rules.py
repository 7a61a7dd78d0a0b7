"""The therapy rules of the cohort filter on small synthetic clinical tables."""

from __future__ import annotations

import itertools
from typing import get_args

import pandas as pd
import pytest

from radiogenomics_assets.cohort.clinical import type_clinical_labels
from radiogenomics_assets.cohort.criteria import (
    CohortCriteria,
    TherapyRule,
    apply_criteria,
    consort_flow,
    therapy_regimen,
)
from radiogenomics_assets.cohort.outcomes import compute_outcomes
from radiogenomics_assets_tests.cohort.builders import availability_frame, raw_clinical

RULES: tuple[TherapyRule, ...] = get_args(TherapyRule)
KEEP_RULES = ("keep_chemotherapy", "keep_radiation", "keep_chemoradiation")
UNRECORDED = "Not Collected"


def _therapy(adjuvant: str, chemotherapy: str, radiation: str) -> dict[str, str]:
    return {"adjuvant_treatment": adjuvant, "chemotherapy": chemotherapy, "radiation": radiation}


#: One patient per regimen, in this order.
REGIMENS = [
    _therapy("No", "No", "No"),  # P-001 surgery only
    _therapy("Yes", "Yes", "No"),  # P-002 chemotherapy alone
    _therapy("Yes", "No", "Yes"),  # P-003 radiation alone
    _therapy("Yes", "Yes", "Yes"),  # P-004 chemotherapy with radiation
    _therapy("Yes", "No", "No"),  # P-005 adjuvant therapy of no recorded kind
    _therapy(UNRECORDED, UNRECORDED, UNRECORDED),  # P-006 therapy not recorded
    _therapy("Yes", "Yes", UNRECORDED),  # P-007 chemotherapy, radiation not recorded
]


def _included(rows: list[dict[str, str]], criteria: CohortCriteria) -> list[bool]:
    typed = type_clinical_labels(raw_clinical(*rows))
    outcomes = compute_outcomes(typed)
    available = availability_frame(typed["patient_id"].tolist())
    patients = apply_criteria(typed, outcomes, available, criteria)
    return patients["included"].astype(bool).tolist()


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("paper", [True, False, False, False, False, False, False]),
        ("keep_chemotherapy", [True, True, False, False, False, False, True]),
        ("keep_radiation", [True, False, True, False, False, False, False]),
        ("keep_chemoradiation", [True, False, False, True, False, False, False]),
        ("keep_any", [True] * 7),
    ],
)
def test_each_rule_keeps_exactly_the_regimens_it_names(
    rule: TherapyRule, expected: list[bool]
) -> None:
    assert _included(REGIMENS, CohortCriteria(therapy_rule=rule)) == expected


@pytest.mark.parametrize("rule", KEEP_RULES)
def test_unrecorded_therapy_follows_exclude_unknown_therapy(rule: TherapyRule) -> None:
    unrecorded = [REGIMENS[5]]
    assert _included(unrecorded, CohortCriteria(therapy_rule=rule)) == [False]
    lenient = CohortCriteria(therapy_rule=rule, exclude_unknown_therapy=False)
    assert _included(unrecorded, lenient) == [True]


def test_the_exclusion_says_what_was_received_and_what_the_rule_keeps() -> None:
    criteria = CohortCriteria(therapy_rule="keep_chemotherapy")
    typed = type_clinical_labels(raw_clinical(*REGIMENS))
    patients = apply_criteria(
        typed,
        compute_outcomes(typed),
        availability_frame(typed["patient_id"].tolist()),
        criteria,
    )
    details = dict(zip(patients["patient_id"], patients["exclusion_detail"], strict=True))
    assert details["P-004"] == (
        "received chemotherapy, radiation; keep_chemotherapy keeps "
        "no adjuvant therapy, or chemotherapy alone"
    )
    assert details["P-005"].startswith("received adjuvant; ")
    assert details["P-006"] == "therapy not recorded (adjuvant, chemotherapy, radiation missing)"
    assert set(patients.loc[~patients["included"], "exclusion_reason"]) == {"adjuvant_therapy"}
    flow = consort_flow(patients, criteria)
    assert flow["description"].iloc[-1] == "no adjuvant therapy, or chemotherapy alone"
    assert flow["patients_remaining"].iloc[-1] == 3


@pytest.mark.parametrize("exclude_unknown", [True, False])
def test_every_rule_keeps_a_superset_of_the_papers_patients(exclude_unknown: bool) -> None:
    values = ("Yes", "No", UNRECORDED)
    rows = [_therapy(*combination) for combination in itertools.product(values, repeat=3)]
    kept = {
        rule: {
            number
            for number, included in enumerate(
                _included(
                    rows, CohortCriteria(therapy_rule=rule, exclude_unknown_therapy=exclude_unknown)
                )
            )
            if included
        }
        for rule in RULES
    }
    for rule in KEEP_RULES:
        assert kept["paper"] < kept[rule] < kept["keep_any"], rule
    assert kept["keep_any"] == set(range(len(rows)))
    # The keep_* rules add disjoint regimens to the paper's surgery-only patients.
    assert set.intersection(*(kept[rule] for rule in KEEP_RULES)) == kept["paper"]


def test_therapy_regimen_reads_adjuvant_as_the_umbrella_of_the_other_two() -> None:
    assert therapy_regimen(True, True, False) == {"chemotherapy"}
    assert therapy_regimen(True, True, True) == {"chemotherapy", "radiation"}
    assert therapy_regimen(True, False, False) == {"adjuvant"}
    assert therapy_regimen(True, pd.NA, None) == {"adjuvant"}
    assert therapy_regimen(False, pd.NA, True) == {"radiation"}
    assert therapy_regimen(None, None, None) == frozenset()


def test_rules_validate_their_options() -> None:
    with pytest.raises(ValueError, match=r"therapy_rule must be one of .* got 'chemo'"):
        CohortCriteria(therapy_rule="chemo")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="therapy_flags narrows the 'paper' rule only"):
        CohortCriteria(therapy_rule="keep_radiation", therapy_flags=("radiation",))
    with pytest.raises(ValueError, match="needs exclude_adjuvant_therapy=True"):
        CohortCriteria(therapy_rule="keep_any", exclude_adjuvant_therapy=False)
    assert CohortCriteria().therapy_rule == "paper"
