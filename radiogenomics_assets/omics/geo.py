"""Parse a GEO-style expression matrix (GSE103584) into the raw long table.

The GEO supplementary file is tab-separated, optionally gzipped, with a header that starts with an
empty cell and then one column per patient, one row per gene symbol and ``NA`` for missing
values. Derivatives saved with pandas use commas, so the delimiter is read off the header line.
Values are kept as measured (no transform, duplicates kept with their line number); cleaning
happens in ``radiogenomics_assets.omics.expression``.
"""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from radiogenomics_assets.ids import InvalidPatientIdError, validate_patient_id

NA_TOKENS = ("NA", "NaN", "nan", "")


class GeoMatrixError(ValueError):
    """The matrix cannot be parsed; the message names the line and the column."""


@dataclass(frozen=True)
class GeoMatrix:
    """The long table (patient_id, gene, expression, source_line) and rejected columns."""

    long: pd.DataFrame
    rejected_columns: pd.DataFrame


def _open_text(path: Path) -> io.TextIOBase:
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def read_geo_matrix(path: Path) -> GeoMatrix:
    """Read the matrix at ``path`` into a long table with one row per (gene line, patient).

    Raises:
        GeoMatrixError: an empty file, a header with no patient columns, a patient column given
            twice, a row with the wrong number of cells, or a non-numeric value (line and
            patient named).
    """
    with _open_text(path) as handle:
        header = handle.readline().rstrip("\r\n")
        if not header:
            raise GeoMatrixError(f"{path}: the expression matrix is empty")
        delimiter = "\t" if "\t" in header else ","
        try:
            table = pd.read_csv(
                handle,
                sep=delimiter,
                header=None,
                dtype=str,
                keep_default_na=False,
                engine="c",
            )
        except pd.errors.ParserError as error:
            raise GeoMatrixError(f"{path}: {error}") from error
        except pd.errors.EmptyDataError:
            table = pd.DataFrame()

    columns = header.split(delimiter)
    patients = [c.strip().strip('"') for c in columns[1:]]
    if not patients:
        raise GeoMatrixError(f"{path}: the header has no patient columns")
    if not table.empty and table.shape[1] != len(columns):
        raise GeoMatrixError(
            f"{path}: rows have {table.shape[1]} cells but the header has {len(columns)}"
        )
    seen: set[str] = set()
    for patient in patients:
        if patient in seen:
            raise GeoMatrixError(f"{path}: patient column {patient!r} appears twice")
        seen.add(patient)

    genes = table.iloc[:, 0].str.strip().to_numpy() if not table.empty else np.array([])
    lines = np.arange(2, len(genes) + 2)
    kept, rejected, frames = [], [], []
    for offset, patient in enumerate(patients, start=1):
        try:
            validate_patient_id(patient, where=f"{path.name} header")
        except InvalidPatientIdError as error:
            rejected.append({"column": offset + 1, "raw_patient_id": patient, "reason": str(error)})
            continue
        kept.append(patient)
        raw = table.iloc[:, offset].str.strip() if not table.empty else pd.Series(dtype=str)
        values = pd.to_numeric(raw.where(~raw.isin(NA_TOKENS)), errors="coerce")
        bad = values.isna() & ~raw.isin(NA_TOKENS)
        if bad.any():
            first = int(np.flatnonzero(bad.to_numpy())[0])
            raise GeoMatrixError(
                f"{path}: non-numeric expression value {raw.iloc[first]!r} at line {lines[first]} "
                f"(gene {genes[first]!r}), column {patient!r}"
            )
        frames.append(
            pd.DataFrame(
                {
                    "patient_id": patient,
                    "gene": genes,
                    "expression": values.to_numpy(dtype=float),
                    "source_line": lines,
                }
            )
        )
    long = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["patient_id", "gene", "expression", "source_line"])
    )
    rejected_frame = pd.DataFrame(rejected, columns=["column", "raw_patient_id", "reason"])
    return GeoMatrix(long=long, rejected_columns=rejected_frame)
