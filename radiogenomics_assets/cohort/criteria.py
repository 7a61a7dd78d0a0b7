"""The cohort filter as configuration, the per-patient verdict, and the CONSORT flow.

The paper: 211 patients → 130 with CT, gene expression and recurrence → 107 after removing those
who had adjuvant or neo-adjuvant therapy. The criteria are checked in the fixed order of
:data:`CRITERIA` and each excluded patient carries the code of the FIRST criterion it fails, so
the flow table's removals add up exactly:

1. ``no_rnaseq``          no RNA-seq expression value (GSE103584)
2. ``no_ct``              no CT series in the imaging manifest
3. ``no_seg``             no nodule segmentation (DICOM SEG) in the imaging manifest
4. ``recurrence_unknown`` ``Recurrence`` is not yes/no (``Not collected``, or unrecognised)
5. ``invalid_outcome``    the time to event cannot be computed or is not positive
6. ``adjuvant_therapy``   adjuvant/neo-adjuvant therapy received (or not recorded); which
                          therapies exclude is the ``therapy_rule`` (below)

Data availability comes first, as in the paper's "130 with CT, gene expression and recurrence",
then the outcome, then the therapy exclusion that takes the paper from 130 to 107.

Choices made where the paper is silent:

- ``require_seg`` is on by default: the paper computes nodule features for every patient of its
  cohort, so a segmentation is implicitly required (its masks came from the AIM XML; ours come
  from the collection's DICOM SEG series).
- The therapy exclusion looks at ``Adjuvant Treatment``, ``Chemotherapy`` and ``Radiation``
  (``therapy_flags``): the file has no neo-adjuvant column, and chemotherapy or radiation given
  before surgery would only appear in the latter two. On the public file the three agree
  (every chemotherapy or radiation patient also has Adjuvant Treatment = Yes).
- A patient whose therapy flags are all missing is excluded (``exclude_unknown_therapy``):
  the paper's cohort is "surgery only", which such a patient cannot be shown to be.

Therapy rules (``therapy_rule``)
    The paper does not say which therapy it counted, and its 107 patients were never listed, so
    the therapy criterion has variants. Each keeps every patient the ``paper`` rule (with
    ``therapy_flags`` at its default) keeps and possibly more; none changes the earlier
    criteria.

    ``paper`` (default)
        Exclude a patient who received any therapy named in ``therapy_flags`` (all three
        columns by default): the cohort is surgery only.
    ``keep_chemotherapy``
        Keep a patient whose adjuvant therapy was chemotherapy alone; radiation, with or
        without chemotherapy, excludes.
    ``keep_radiation``
        Keep a patient whose adjuvant therapy was radiation alone; chemotherapy excludes.
    ``keep_chemoradiation``
        Keep a patient who received chemotherapy together with radiation; either one alone
        excludes. On the public files without the SEG requirement this is the one rule that
        gives the paper's 130 → 107.
    ``keep_any``
        Nobody is excluded for therapy, not even for an unrecorded one: the criterion stays in
        the flow with no removals, so variants compare step by step.

    The ``keep_*`` rules read all three columns and ``therapy_flags`` must be left at its
    default (it narrows the ``paper`` rule only). They judge the regimen made of the
    ``Chemotherapy`` and ``Radiation`` columns; ``Adjuvant Treatment`` = Yes is the umbrella
    of those two and counts as an unspecified adjuvant therapy (kept only by ``keep_any``)
    when neither is Yes. A missing flag is read as not received unless all three are missing,
    as in the ``paper`` rule; ``exclude_unknown_therapy`` then applies to every rule but
    ``keep_any``. ``benchmarks/consort.py`` prints the flow of every rule on the real files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import pandas as pd

from radiogenomics_assets.cohort.outcomes import Origin

ExclusionCode = Literal[
    "no_rnaseq", "no_ct", "no_seg", "recurrence_unknown", "invalid_outcome", "adjuvant_therapy"
]
TherapyFlag = Literal["adjuvant", "chemotherapy", "radiation"]
TherapyRule = Literal[
    "paper", "keep_chemotherapy", "keep_radiation", "keep_chemoradiation", "keep_any"
]

_ALL_FLAGS: tuple[TherapyFlag, ...] = get_args(TherapyFlag)
#: The regimens (therapies received, from Chemotherapy and Radiation) each ``keep_*`` rule keeps;
#: None: every regimen, including an unrecorded one.
_KEPT_REGIMENS: dict[TherapyRule, frozenset[frozenset[str]] | None] = {
    "keep_chemotherapy": frozenset({frozenset(), frozenset({"chemotherapy"})}),
    "keep_radiation": frozenset({frozenset(), frozenset({"radiation"})}),
    "keep_chemoradiation": frozenset({frozenset(), frozenset({"chemotherapy", "radiation"})}),
    "keep_any": None,
}
#: The flow table's text for the therapy criterion under each rule.
_THERAPY_TEXT: dict[TherapyRule, str] = {
    "paper": "no adjuvant/neo-adjuvant therapy",
    "keep_chemotherapy": "no adjuvant therapy, or chemotherapy alone",
    "keep_radiation": "no adjuvant therapy, or radiation alone",
    "keep_chemoradiation": "no adjuvant therapy, or chemotherapy with radiation",
    "keep_any": "any or no adjuvant therapy (nobody removed)",
}

#: (code, the CohortCriteria switch that enables it, text for the flow table), in check order.
CRITERIA: tuple[tuple[ExclusionCode, str, str], ...] = (
    ("no_rnaseq", "require_rnaseq", "has RNA-seq gene expression"),
    ("no_ct", "require_ct", "has a CT series"),
    ("no_seg", "require_seg", "has a nodule segmentation (DICOM SEG)"),
    ("recurrence_unknown", "require_known_recurrence", "recurrence status known (yes/no)"),
    ("invalid_outcome", "require_valid_outcome", "time to event computable and positive"),
    ("adjuvant_therapy", "exclude_adjuvant_therapy", "no adjuvant/neo-adjuvant therapy"),
)

_AVAILABILITY_FLAGS = ("has_rnaseq", "has_ct", "has_seg")
_FRONT_COLUMNS = (
    "patient_id",
    "included",
    "exclusion_reason",
    "exclusion_detail",
    "has_rnaseq",
    "has_ct",
    "has_seg",
    "adjuvant",
    "chemotherapy",
    "radiation",
    "recurrence",
    "event",
    "days",
    "outcome_problem",
)


class CohortInputError(ValueError):
    """The tables given to the cohort functions do not describe the same patients or settings."""


@dataclass(frozen=True)
class CohortCriteria:
    """Which criteria apply; the defaults are the paper's cohort (see the module docstring)."""

    require_rnaseq: bool = True
    require_ct: bool = True
    require_seg: bool = True
    require_known_recurrence: bool = True
    require_valid_outcome: bool = True
    exclude_adjuvant_therapy: bool = True
    therapy_flags: tuple[TherapyFlag, ...] = ("adjuvant", "chemotherapy", "radiation")
    exclude_unknown_therapy: bool = True
    therapy_rule: TherapyRule = "paper"
    origin: Origin = "ct"

    def __post_init__(self) -> None:
        unknown = [flag for flag in self.therapy_flags if flag not in get_args(TherapyFlag)]
        if unknown or not self.therapy_flags:
            raise ValueError(
                f"therapy_flags must be a non-empty subset of {get_args(TherapyFlag)}, "
                f"got {self.therapy_flags!r}"
            )
        if self.therapy_rule not in get_args(TherapyRule):
            raise ValueError(
                f"therapy_rule must be one of {get_args(TherapyRule)}, got {self.therapy_rule!r}"
            )
        if self.therapy_rule != "paper":
            if not self.exclude_adjuvant_therapy:
                raise ValueError(
                    f"therapy_rule={self.therapy_rule!r} needs exclude_adjuvant_therapy=True "
                    "(with it off no therapy criterion is applied)"
                )
            if set(self.therapy_flags) != set(_ALL_FLAGS):
                raise ValueError(
                    f"therapy_rule={self.therapy_rule!r} reads all of {_ALL_FLAGS}; "
                    f"therapy_flags narrows the 'paper' rule only, got {self.therapy_flags!r}"
                )
        if self.origin not in get_args(Origin):
            raise ValueError(f"origin must be one of {get_args(Origin)}, got {self.origin!r}")

    def enabled(self) -> list[tuple[ExclusionCode, str]]:
        """``(code, text)`` of the criteria switched on, in check order."""
        return [
            (code, _THERAPY_TEXT[self.therapy_rule] if code == "adjuvant_therapy" else text)
            for code, switch, text in CRITERIA
            if getattr(self, switch)
        ]


def _require(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise CohortInputError(f"{name} table lacks column(s) {missing}")


def _same_patients(reference: pd.Series, other: pd.DataFrame, name: str) -> None:
    if other["patient_id"].duplicated().any():
        duplicated = sorted(other.loc[other["patient_id"].duplicated(), "patient_id"].unique())
        raise CohortInputError(f"{name} lists patient id(s) {duplicated} more than once")
    expected, got = set(reference), set(other["patient_id"])
    if expected != got:
        raise CohortInputError(
            f"{name} does not cover the clinical patients: missing {sorted(expected - got)}, "
            f"extra {sorted(got - expected)}"
        )


def therapy_regimen(
    adjuvant: bool | None, chemotherapy: bool | None, radiation: bool | None
) -> frozenset[str]:
    """The adjuvant therapies a patient received, as the ``keep_*`` rules read the three flags.

    ``chemotherapy`` and ``radiation`` when that flag is True; ``adjuvant`` (an unspecified
    adjuvant therapy) only when Adjuvant Treatment is True and neither of the other two is.
    A missing flag (None or NA) counts as not received.
    """

    def given(flag: bool | None) -> bool:
        return flag is not None and not pd.isna(flag) and bool(flag)

    regimen = {
        name
        for name, flag in (("chemotherapy", chemotherapy), ("radiation", radiation))
        if given(flag)
    }
    if given(adjuvant) and not regimen:
        regimen.add("adjuvant")
    return frozenset(regimen)


def _regimen_verdict(row: pd.Series, criteria: CohortCriteria) -> str | None:
    kept = _KEPT_REGIMENS[criteria.therapy_rule]
    if kept is None:
        return None
    if all(pd.isna(row[flag]) for flag in _ALL_FLAGS):
        if criteria.exclude_unknown_therapy:
            return "therapy not recorded (" + ", ".join(_ALL_FLAGS) + " missing)"
        return None
    regimen = therapy_regimen(*(row[flag] for flag in _ALL_FLAGS))
    if regimen in kept:
        return None
    return (
        "received "
        + ", ".join(sorted(regimen))
        + f"; {criteria.therapy_rule} keeps "
        + _THERAPY_TEXT[criteria.therapy_rule]
    )


def _therapy_verdict(row: pd.Series, criteria: CohortCriteria) -> str | None:
    if criteria.therapy_rule != "paper":
        return _regimen_verdict(row, criteria)
    received = [flag for flag in criteria.therapy_flags if pd.notna(row[flag]) and bool(row[flag])]
    if received:
        return "received " + ", ".join(received)
    unknown = [flag for flag in criteria.therapy_flags if pd.isna(row[flag])]
    if criteria.exclude_unknown_therapy and len(unknown) == len(criteria.therapy_flags):
        return "therapy not recorded (" + ", ".join(unknown) + " missing)"
    return None


def _failure(row: pd.Series, code: ExclusionCode, criteria: CohortCriteria) -> str | None:
    """The reason ``row`` fails criterion ``code``, or None if it passes."""
    if code == "no_rnaseq":
        return None if row["has_rnaseq"] else "no RNA-seq expression value"
    if code == "no_ct":
        return None if row["has_ct"] else "no CT series in the imaging manifest"
    if code == "no_seg":
        return None if row["has_seg"] else "no SEG series in the imaging manifest"
    if code == "recurrence_unknown":
        if row["recurrence"] in ("yes", "no"):
            return None
        raw = "empty" if pd.isna(row["recurrence_raw"]) else repr(str(row["recurrence_raw"]))
        return f"recurrence is {row['recurrence']} (raw {raw})"
    if code == "invalid_outcome":
        return None if pd.isna(row["outcome_problem"]) else str(row["outcome_problem"])
    return _therapy_verdict(row, criteria)


def apply_criteria(
    typed: pd.DataFrame,
    outcomes: pd.DataFrame,
    availability: pd.DataFrame,
    criteria: CohortCriteria | None = None,
) -> pd.DataFrame:
    """``cohort.patients``: every clinical patient with availability, outcome and verdict.

    ``typed`` comes from ``type_clinical_labels``, ``outcomes`` from ``compute_outcomes`` (with
    ``origin=criteria.origin``), ``availability`` from ``availability``. The result keeps the
    order of ``typed`` and puts first ``patient_id, included, exclusion_reason`` (an
    :data:`ExclusionCode`, None when included), ``exclusion_detail`` (human text), the
    availability and therapy flags, ``recurrence, event, days, outcome_problem``; the other
    typed clinical columns follow.

    Raises:
        CohortInputError: the three tables do not hold the same patients exactly once, or the
            outcomes were computed from another origin than ``criteria.origin``.
    """
    criteria = criteria or CohortCriteria()
    _require(
        typed, ("patient_id", "recurrence", "recurrence_raw", *criteria.therapy_flags), "typed"
    )
    _require(outcomes, ("patient_id", "event", "days", "origin", "outcome_problem"), "outcomes")
    _require(availability, ("patient_id", *_AVAILABILITY_FLAGS), "availability")
    for flag in _AVAILABILITY_FLAGS:
        unknown = availability.loc[availability[flag].isna(), "patient_id"]
        if len(unknown):
            raise CohortInputError(f"availability.{flag} is NULL for {sorted(unknown.astype(str))}")
    ids = typed["patient_id"]
    if ids.duplicated().any():
        raise CohortInputError(
            f"clinical table lists patient id(s) {sorted(ids[ids.duplicated()].unique())} twice"
        )
    _same_patients(ids, outcomes, "outcomes")
    _same_patients(ids, availability, "availability")
    origins = set(outcomes["origin"].dropna().astype(str))
    if origins - {criteria.origin}:
        raise CohortInputError(
            f"outcomes were computed with origin {sorted(origins)}, the criteria ask for "
            f"{criteria.origin!r}; recompute them with compute_outcomes(origin=...)"
        )

    outcome_part = outcomes.set_index("patient_id")[["event", "days", "outcome_problem"]]
    availability_part = availability.set_index("patient_id")
    merged = typed.join(outcome_part, on="patient_id").join(availability_part, on="patient_id")

    reasons: list[str | None] = []
    details: list[str | None] = []
    enabled = [code for code, _ in criteria.enabled()]
    for _, row in merged.iterrows():
        reason = detail = None
        for code in enabled:
            detail = _failure(row, code, criteria)
            if detail is not None:
                reason = code
                break
        reasons.append(reason)
        details.append(detail)
    merged["exclusion_reason"] = pd.array(reasons, dtype="string")
    merged["exclusion_detail"] = pd.array(details, dtype="string")
    merged["included"] = merged["exclusion_reason"].isna().astype("boolean")
    rest = [column for column in merged.columns if column not in _FRONT_COLUMNS]
    return merged[[*_FRONT_COLUMNS, *rest]].reset_index(drop=True)


def consort_flow(patients: pd.DataFrame, criteria: CohortCriteria | None = None) -> pd.DataFrame:
    """The CONSORT-style flow table, one row per step.

    Columns: ``step, criterion, description, patients_remaining, patients_removed``.

    Step 0 is every patient in the clinical labels; then one row per enabled criterion, in
    check order, removing the patients whose first failed criterion it is.

    Raises:
        CohortInputError: ``patients`` holds an exclusion code that ``criteria`` does not
            enable (the table was made with other criteria), or its ``included`` column
            disagrees with the exclusion codes.
    """
    criteria = criteria or CohortCriteria()
    enabled = criteria.enabled()
    codes = {code for code, _ in enabled}
    found = set(patients["exclusion_reason"].dropna().astype(str))
    if found - codes:
        raise CohortInputError(
            f"patients carry exclusion code(s) {sorted(found - codes)} that these criteria "
            f"do not enable ({sorted(codes)}); rebuild patients with the same criteria"
        )
    included = patients["included"].astype(bool)
    if (included != patients["exclusion_reason"].isna()).any():
        bad = patients.loc[included != patients["exclusion_reason"].isna(), "patient_id"]
        raise CohortInputError(
            f"included disagrees with exclusion_reason for {sorted(bad.astype(str))}"
        )

    remaining = len(patients)
    rows = [
        {
            "step": 0,
            "criterion": "clinical_labels",
            "description": "patients in the clinical labels",
            "patients_remaining": remaining,
            "patients_removed": 0,
        }
    ]
    counts = patients["exclusion_reason"].value_counts()
    for step, (code, text) in enumerate(enabled, start=1):
        removed = int(counts.get(code, 0))
        remaining -= removed
        rows.append(
            {
                "step": step,
                "criterion": code,
                "description": text,
                "patients_remaining": remaining,
                "patients_removed": removed,
            }
        )
    flow = pd.DataFrame(rows)
    for column in ("step", "patients_remaining", "patients_removed"):
        flow[column] = flow[column].astype("int64")
    return flow


def flow_markdown(flow: pd.DataFrame) -> str:
    """The flow table as a GitHub markdown table (one line per step)."""
    lines = [
        "| step | criterion | patients remaining | patients removed |",
        "|---:|---|---:|---:|",
    ]
    for row in flow.itertuples(index=False):
        lines.append(
            f"| {row.step} | {row.description} (`{row.criterion}`) | "
            f"{row.patients_remaining} | {row.patients_removed} |"
        )
    return "\n".join(lines)


def study_cohort(patients: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """``cohort.study_cohort``: the included patients with their outcome and main covariates.

    Raises:
        CohortInputError: an included patient has no outcome row.
    """
    included = patients.loc[patients["included"].astype(bool)]
    outcome_part = outcomes.set_index("patient_id")
    missing = sorted(set(included["patient_id"]) - set(outcome_part.index))
    if missing:
        raise CohortInputError(f"included patient(s) {missing} have no outcome row")
    covariates = [
        column
        for column in (
            "age_at_histological_diagnosis",
            "gender",
            "histology",
            "pathological_t_stage",
            "pathological_n_stage",
            "smoking_status",
        )
        if column in included.columns
    ]
    cohort = included[["patient_id", *covariates]].join(
        outcome_part[["event", "days", "origin", "origin_date", "end_date", "end_point"]],
        on="patient_id",
    )
    front = ["patient_id", "event", "days", "origin", "origin_date", "end_date", "end_point"]
    return cohort[[*front, *covariates]].reset_index(drop=True)
