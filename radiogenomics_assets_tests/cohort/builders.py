"""Small raw clinical tables in the shape ``read_clinical_labels`` returns (strings or None)."""

from __future__ import annotations

import pandas as pd

#: A surgery-only patient who recurred 100 days after the CT.
BASE_ROW: dict[str, str | None] = {
    "patient_id": "P-001",
    "age_at_histological_diagnosis": "70",
    "gender": "Male",
    "histology": "Adenocarcinoma",
    "adjuvant_treatment": "No",
    "chemotherapy": "No",
    "radiation": "No",
    "recurrence": "yes",
    "date_of_recurrence": "4/11/1994",
    "date_of_last_known_alive": "1/1/1996",
    "ct_date": "1/1/1994",
    "days_between_ct_and_surgery": "10",
    "date_of_death": "N/A",
}


def raw_clinical(*overrides: dict[str, str | None]) -> pd.DataFrame:
    """One raw row per override dict, each starting from :data:`BASE_ROW`.

    Patient ids default to ``P-001``, ``P-002``, ... in order unless an override sets one.
    """
    rows = []
    for number, override in enumerate(overrides, start=1):
        row = {**BASE_ROW, "patient_id": f"P-{number:03d}"}
        row.update(override)
        row["source_row"] = number + 1
        rows.append(row)
    return pd.DataFrame(rows)


def availability_frame(
    ids: list[str],
    *,
    no_rnaseq: tuple[str, ...] = (),
    no_ct: tuple[str, ...] = (),
    no_seg: tuple[str, ...] = (),
) -> pd.DataFrame:
    """An availability table where every patient has everything except those named."""
    return pd.DataFrame(
        {
            "patient_id": ids,
            "has_rnaseq": [patient not in no_rnaseq for patient in ids],
            "has_ct": [patient not in no_ct for patient in ids],
            "has_seg": [patient not in no_seg for patient in ids],
        }
    )
