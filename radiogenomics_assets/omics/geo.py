"""Parse a GEO-style expression matrix (GSE103584) into the raw long table.

The GEO supplementary file is tab-separated, optionally gzipped, with a header that starts with an
empty cell and then one column per patient, one row per gene symbol and ``NA`` for missing
values. Derivatives saved with pandas use commas, so the delimiter is read off the header line.
Values are kept as measured (no transform, duplicates kept with their line number); cleaning
happens in ``radiogenomics_assets.omics.expression``.

What is refused, and how much:

- A patient column whose header is not a valid patient id: only that column, as a
  :class:`~radiogenomics_assets.sources.rejections.Rejection` of kind ``expression_column``
  (the other patients' values do not depend on it).
- The whole matrix, when its cells cannot all be read as finite numbers (text, ``inf``).
  One unreadable cell among millions is rarely alone: it usually means the wrong file, a
  locale's decimal comma or a broken export, and silently loading the rest would hand the
  models a different matrix than the user thinks. The error lists every bad cell (up to
  :data:`MAX_LISTED_CELLS`, with line, gene, column and patient) and the total, so one run
  shows the whole extent of the damage.
- The whole matrix, too, when it is a truncated or damaged gzip or not UTF-8 text, has no
  patient columns, a patient column twice, rows with the wrong number of cells (lines named; a
  short row would otherwise read as missing values), or when it is GEO's *series matrix*
  (sample metadata, no expression values) instead of the supplementary expression file.

Every message and ``Rejection.source_file`` names the file as the user gave it
(``display_name``: the configured path or URL), never the store's copy.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from radiogenomics_assets.ids import InvalidPatientIdError, validate_patient_id
from radiogenomics_assets.sources.rejections import Rejection

NA_TOKENS = ("NA", "NaN", "nan", "")
#: How many unreadable cells one error message lists (the total is always given).
MAX_LISTED_CELLS = 20
#: The GEO supplementary file of GSE103584 that holds the expression values.
GEO_EXPRESSION_FILE = "GSE103584_R01_NSCLC_RNAseq.txt.gz"
_SERIES_MATRIX_MARKERS = ("!Series_", "!Sample_", "!series_matrix_table_begin")
_PANDAS_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


class GeoMatrixError(ValueError):
    """The matrix cannot be parsed; the message names the file, the line and the column."""


@dataclass(frozen=True)
class GeoMatrix:
    """The long table (patient_id, gene, expression, source_line) and the refused columns."""

    long: pd.DataFrame
    rejected: tuple[Rejection, ...]


def is_gzip(path: Path) -> bool:
    """Whether ``path`` starts with the gzip magic bytes (whatever its name says)."""
    with open(path, "rb") as probe:
        return probe.read(2) == b"\x1f\x8b"


def matrix_suffix(path: Path) -> str:
    """The file name suffix of what ``path`` holds: ``.txt.gz``, or ``.txt`` (tabs) / ``.csv``."""
    if is_gzip(path):
        return ".txt.gz"
    with open(path, encoding="utf-8", errors="replace") as handle:
        return ".txt" if "\t" in handle.readline() else ".csv"


def _open_text(path: Path) -> io.TextIOBase:
    if is_gzip(path):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def _refuse_series_matrix(header: str, name: str) -> None:
    if header.startswith(_SERIES_MATRIX_MARKERS):
        raise GeoMatrixError(
            f"{name} is a GEO series matrix (lines starting with '!Series_' and '!Sample_'): it "
            "holds the series' and samples' metadata but no expression values, which GEO keeps "
            f"in the supplementary file. Use {GEO_EXPRESSION_FILE} from the series' "
            "supplementary files (…/geo/series/GSE103nnn/GSE103584/suppl/) instead."
        )


def _parse_error(error: pd.errors.ParserError, name: str) -> GeoMatrixError:
    found = _PANDAS_FIELDS.search(str(error))
    if found is None:
        return GeoMatrixError(f"{name}: {error}")
    expected, line, saw = (int(g) for g in found.groups())
    # pandas counts from the line after the header, which was read first.
    return GeoMatrixError(f"{name} line {line + 1} has {saw} cells, the header line has {expected}")


def _bad_cells_error(
    table: pd.DataFrame, masks: dict[int, np.ndarray], patients: list[str], name: str
) -> GeoMatrixError:
    """Every unreadable cell, counted, and the first ones in file order, named."""
    offsets = sorted(masks)
    grid = np.column_stack([masks[offset] for offset in offsets])
    cells = np.argwhere(grid)  # row-major: file order, line by line
    shown = []
    for row, index in cells[:MAX_LISTED_CELLS]:
        offset = offsets[index]
        shown.append(
            f"line {row + 2} (gene {str(table.iat[row, 0]).strip()!r}), column {offset + 1} "
            f"(patient {patients[offset - 1]!r}): {table.iat[row, offset].strip()!r}"
        )
    more = f"; and {len(cells) - MAX_LISTED_CELLS} more" if len(cells) > MAX_LISTED_CELLS else ""
    return GeoMatrixError(
        f"{name}: {len(cells)} expression value(s) are not finite numbers, so the matrix is "
        "refused "
        f"(a wrong file or a broken export is likelier than a few bad cells): "
        + "; ".join(shown)
        + more
    )


def _refuse_short_rows(path: Path, delimiter: str, n_cells: int, name: str) -> None:
    """pandas pads a short row with empty cells, which would read as NA: name such lines."""
    with _open_text(path) as handle:
        next(handle)
        short = [
            (number, line.count(delimiter) + 1)
            for number, line in enumerate(handle, start=2)
            if line.strip() and line.count(delimiter) + 1 < n_cells
        ]
    if short:
        shown = ", ".join(f"line {number} ({cells})" for number, cells in short[:MAX_LISTED_CELLS])
        more = f" and {len(short) - MAX_LISTED_CELLS} more" if len(short) > MAX_LISTED_CELLS else ""
        raise GeoMatrixError(
            f"{name}: {len(short)} row(s) have fewer cells than the header line's {n_cells}: "
            f"{shown}{more}"
        )


def read_geo_matrix(path: Path, display_name: str | None = None) -> GeoMatrix:
    """Read the matrix at ``path`` into a long table with one row per (gene line, patient).

    ``display_name`` (default: ``path``) is how messages and records name the file.

    Raises:
        GeoMatrixError: an empty file, a truncated or damaged gzip, text that is not UTF-8,
            GEO's series matrix, a header with no patient columns, a patient column given twice,
            rows with the wrong number of cells, or values that are not finite numbers (every
            one listed, up to :data:`MAX_LISTED_CELLS`, with the total).
    """
    name = display_name or str(path)
    try:
        return _read_geo_matrix(Path(path), name)
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise GeoMatrixError(
            f"{name}: the gzip file is truncated or damaged ({error}); download it again"
        ) from error
    except UnicodeDecodeError as error:
        raise GeoMatrixError(
            f"{name}: the matrix is not UTF-8 text ({error.reason}); is it the expression file?"
        ) from error


def _read_geo_matrix(path: Path, name: str) -> GeoMatrix:
    with _open_text(path) as handle:
        header = handle.readline().rstrip("\r\n")
        if not header:
            raise GeoMatrixError(f"{name}: the expression matrix is empty")
        _refuse_series_matrix(header, name)
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
            raise _parse_error(error, name) from error
        except pd.errors.EmptyDataError:
            table = pd.DataFrame()

    columns = header.split(delimiter)
    patients = [c.strip().strip('"') for c in columns[1:]]
    if not patients:
        raise GeoMatrixError(f"{name}: the header has no patient columns")
    if not table.empty and table.shape[1] != len(columns):
        raise GeoMatrixError(
            f"{name}: rows have {table.shape[1]} cells but the header line has {len(columns)}"
        )
    _refuse_short_rows(path, delimiter, len(columns), name)
    seen: set[str] = set()
    for patient in patients:
        if patient in seen:
            raise GeoMatrixError(f"{name}: patient column {patient!r} appears twice")
        seen.add(patient)

    genes = table.iloc[:, 0].str.strip().to_numpy() if not table.empty else np.array([])
    lines = np.arange(2, len(genes) + 2)
    refused: list[Rejection] = []
    bad: dict[int, np.ndarray] = {}
    frames = []
    for offset, patient in enumerate(patients, start=1):
        try:
            validate_patient_id(patient)
        except InvalidPatientIdError as error:
            refused.append(
                Rejection(
                    kind="expression_column",
                    source_file=name,
                    location=f"column {offset + 1}",
                    reason=f"{error}; the column's values are not loaded",
                    raw_value=patient,
                )
            )
            continue
        raw = table.iloc[:, offset].str.strip() if not table.empty else pd.Series(dtype=str)
        values = pd.to_numeric(raw.where(~raw.isin(NA_TOKENS)), errors="coerce")
        # An infinity parses as a number but is no measurement: refused like text.
        bad[offset] = ((values.isna() & ~raw.isin(NA_TOKENS)) | np.isinf(values)).to_numpy()
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
    if any(mask.any() for mask in bad.values()):
        raise _bad_cells_error(table, bad, patients, name)
    long = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["patient_id", "gene", "expression", "source_line"])
    )
    return GeoMatrix(long=long, rejected=tuple(refused))
