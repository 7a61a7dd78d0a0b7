"""Write the plan as the TCIA clinical labels CSV, in the real file's columns and vocabularies.

The real file (``NSCLCR01Radiogenomic_DATA_LABELS_2018-05-22_1500-shifted.csv``) has 40 columns
in a fixed order, ``Histology `` with a trailing space, dates as ``M/D/YYYY`` without zero
padding, ``N/A`` where a value does not apply and ``Not Collected`` / ``Not collected`` /
``Not Assessed`` where it was not recorded (the spelling differs by column). AMC patients have
most staging fields ``Not Collected``. ``Time to Death (days)`` counts from the surgery date
(CT date + ``Days between CT and surgery``), as the real values do. Rows are in arrival order
(the real file is sorted by id), so a grown cohort's file starts with the smaller one's lines.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pandas as pd

from radiogenomics_assets.sources.demo.plan import LOBES

CLINICAL_COLUMNS: tuple[str, ...] = (
    "Case ID",
    "Patient affiliation",
    "Age at Histological Diagnosis",
    "Weight (lbs)",
    "Gender",
    "Ethnicity",
    "Smoking status",
    "Pack Years",
    "Quit Smoking Year",
    "%GG",
    "Tumor Location (choice=RUL)",
    "Tumor Location (choice=RML)",
    "Tumor Location (choice=RLL)",
    "Tumor Location (choice=LUL)",
    "Tumor Location (choice=LLL)",
    "Tumor Location (choice=L Lingula)",
    "Tumor Location (choice=Unknown)",
    "Histology ",
    "Pathological T stage",
    "Pathological N stage",
    "Pathological M stage",
    "Histopathological Grade",
    "Lymphovascular invasion",
    "Pleural invasion (elastic, visceral, or parietal)",
    "EGFR mutation status",
    "KRAS mutation status",
    "ALK translocation status",
    "Adjuvant Treatment",
    "Chemotherapy",
    "Radiation",
    "Recurrence",
    "Recurrence Location",
    "Date of Recurrence",
    "Date of Last Known Alive",
    "Survival Status",
    "Date of Death",
    "Time to Death (days)",
    "CT Date",
    "Days between CT and surgery",
    "PET Date",
)

NOT_APPLICABLE = "N/A"


def format_date(value: dt.date) -> str:
    """``M/D/YYYY`` without zero padding, as in the real file."""
    return f"{value.month}/{value.day}/{value.year}"


def _weight(row: pd.Series) -> str:
    if row["site"] == "AMC" or row["u_weight"] < 0.07:
        return "Not Collected"
    if row["u_weight_format"] < 0.6:
        return str(round(row["weight_lbs"]))
    # Many real weights are conversions from kilograms, hence the odd decimals.
    kilograms = round(row["weight_lbs"] / 2.205, 1)
    return f"{round(kilograms * 2.205, 4):.4f}".rstrip("0").rstrip(".")


def _smoking(row: pd.Series) -> tuple[str, str]:
    if row["smoking"] == "Nonsmoker":
        return NOT_APPLICABLE, NOT_APPLICABLE
    pack_years = "Not Collected" if row["u_pack_years"] < 0.05 else str(row["pack_years"])
    if row["smoking"] == "Current":
        return pack_years, NOT_APPLICABLE
    return pack_years, str(row["ct_date"].year - row["years_since_quit"])


def clinical_row(row: pd.Series) -> list[str]:
    """The 40 cells of one patient, in :data:`CLINICAL_COLUMNS` order."""
    amc = row["site"] == "AMC"
    ct_date: dt.date = row["ct_date"]
    days = dt.timedelta

    def recorded(value: str, missing: str = "Not Collected") -> str:
        return missing if amc else value

    pack_years, quit_year = _smoking(row)
    if not row["recurrence_collected"]:
        recurrence, location, recurrence_date = "Not collected", NOT_APPLICABLE, NOT_APPLICABLE
    elif row["event"]:
        recurrence = "yes"
        location = row["recurrence_location"]
        recurrence_date = format_date(ct_date + days(int(row["event_time_days"])))
    else:
        recurrence, location, recurrence_date = "no", NOT_APPLICABLE, NOT_APPLICABLE
    if row["dead"]:
        death_day = int(row["death_day"])
        status = "Dead"
        death_date = format_date(ct_date + days(death_day))
        time_to_death = str(death_day - int(row["surgery_gap_days"]))
    else:
        status, death_date, time_to_death = "Alive", NOT_APPLICABLE, NOT_APPLICABLE
    lobes = ["Checked" if row["lobe"] == lobe else "Unchecked" for lobe in LOBES]
    yes_no = {True: "Yes", False: "No"}
    return [
        row["patient_id"],
        row["affiliation"],
        str(row["age"]),
        _weight(row),
        "Male" if row["sex"] == "M" else "Female",
        "Not Recorded In Database" if amc else row["ethnicity"],
        row["smoking"],
        pack_years,
        quit_year,
        recorded(row["ground_glass"], "Not Assessed"),
        *lobes,
        "Unchecked",
        "Adenocarcinoma" if amc else row["histology"],
        recorded(row["t_stage"]),
        recorded(row["n_stage"]),
        recorded(row["m_stage"]),
        recorded(row["grade"]),
        recorded(row["lymphovascular"]),
        recorded(row["pleural"], "Not collected"),
        row["egfr"],
        row["kras"],
        row["alk"],
        yes_no[bool(row["adjuvant"])],
        yes_no[bool(row["chemotherapy"])],
        yes_no[bool(row["radiation"])],
        recurrence,
        location,
        recurrence_date,
        format_date(ct_date + days(int(row["last_alive_day"]))),
        status,
        death_date,
        time_to_death,
        format_date(ct_date),
        str(int(row["surgery_gap_days"])),
        recorded(format_date(ct_date + days(int(row["pet_offset_days"])))),
    ]


def write_clinical_csv(path: Path, plan: pd.DataFrame) -> None:
    """Write one row per planned patient to ``path`` (LF line ends, no BOM, minimal quoting)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CLINICAL_COLUMNS)
        for _, row in plan.iterrows():
            writer.writerow(clinical_row(row))
