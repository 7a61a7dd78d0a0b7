"""The real public files of ``shared/data`` as the cohort code's inputs, read with plain tools.

Imaging manifest: the shared IDC table has no Modality column, so each of its series is looked up
in the IDC index shipped with ``idc-index-data`` (a pinned dependency, read offline). Only the
collection's own TCIA series are used (CT, PT and its 144 DICOM SEG nodule segmentations); the
AI-generated AIMI series that IDC added later carry another DOI and are left out.

Used by the real-file cohort tests and by ``benchmarks/consort.py``, so the benchmark's counts
come from the same inputs the tests check.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import idc_index_data
import pandas as pd

from radiogenomics_assets.cohort.clinical import type_clinical_labels
from radiogenomics_assets.omics.geo import read_geo_matrix
from radiogenomics_assets.sources.clinical_csv import read_clinical_labels

CLINICAL = (
    "nsclc-radiogenomics-clinical/NSCLCR01Radiogenomic_DATA_LABELS_2018-05-22_1500-shifted.csv"
)
IDC_TABLE = "nsclc-radiogenomics-clinical/idc_manifest_full_table.csv"
EXPRESSION = "nsclc-radiogenomics-rnaseq-derived/df_zscore.csv"
TCIA_DOI = "10.7937/K9/TCIA.2017.7hs46erv"

_COLLECTION_SERIES = """
    SELECT m.PatientID AS patient_id, i.Modality AS modality,
           m.SeriesInstanceUID AS series_uid
    FROM read_csv(?, all_varchar = true) AS m
    JOIN read_parquet(?) AS i USING (SeriesInstanceUID)
    WHERE m.source_DOI = ?
"""


@dataclass(frozen=True)
class RealInputs:
    csv: pd.DataFrame  # the clinical CSV read with plain pandas, every cell a string
    zscore: pd.DataFrame  # genes × patients
    manifest: pd.DataFrame  # patient_id, modality, series_uid
    typed: pd.DataFrame
    long: pd.DataFrame


def load_real_inputs(shared_data: Path) -> RealInputs:
    """The clinical labels, the GSE103584 derivative and the collection's series manifest.

    Raises:
        FileNotFoundError: one of the three files is not under ``shared_data``.
    """
    for name in (CLINICAL, IDC_TABLE, EXPRESSION):
        if not (shared_data / name).is_file():
            raise FileNotFoundError(
                f"{shared_data / name} not found (is {shared_data} shared/data?)"
            )
    with duckdb.connect() as conn:
        manifest = conn.execute(
            _COLLECTION_SERIES,
            [
                str(shared_data / IDC_TABLE),
                str(idc_index_data.IDC_INDEX_PARQUET_FILEPATH),
                TCIA_DOI,
            ],
        ).df()
    return RealInputs(
        csv=pd.read_csv(shared_data / CLINICAL, dtype=str, keep_default_na=False),
        zscore=pd.read_csv(shared_data / EXPRESSION, index_col=0),
        manifest=manifest,
        typed=type_clinical_labels(read_clinical_labels(shared_data / CLINICAL).frame),
        long=read_geo_matrix(shared_data / EXPRESSION).long,
    )


def kept_by_rule(csv_rows: pd.DataFrame, rule: str) -> pd.Series:
    """Which rows of the plain CSV ``rule`` keeps, read from the strings of its three columns.

    The tests' independent reading of the therapy rules: surgery only is all three "No"; each
    ``keep_*`` rule adds the rows whose Chemotherapy and Radiation cells name its regimen.
    """
    adjuvant, chemo, radiation = (
        csv_rows[column] for column in ("Adjuvant Treatment", "Chemotherapy", "Radiation")
    )
    surgery_only = (adjuvant == "No") & (chemo == "No") & (radiation == "No")
    also = {
        "paper": pd.Series(False, index=csv_rows.index),
        "keep_chemotherapy": (chemo == "Yes") & (radiation == "No"),
        "keep_radiation": (chemo == "No") & (radiation == "Yes"),
        "keep_chemoradiation": (chemo == "Yes") & (radiation == "Yes"),
        "keep_any": pd.Series(True, index=csv_rows.index),
    }
    return surgery_only | also[rule]
