"""Single files by URL: the TCIA clinical labels CSV and GEO's RNA-seq matrix.

Same rules as the series downloads: timeout and retries in the HTTP layer, a content check before
the file is published (a gzip must decompress to its end with a good CRC; a CSV must be text with
a header line), then an atomic rename. The sha256 of the published file is returned and logged;
it is the raw asset's data version.
"""

from __future__ import annotations

import gzip
import os
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from radiogenomics_assets.sources.base import LogFn, SourceError
from radiogenomics_assets.sources.http import DownloadedFile, HttpClient

#: TCIA's clinical labels for NSCLC-Radiogenomics, as linked from the collection page (the URL
#: public projects cite; not reachable from the build machine, so overridable).
DEFAULT_CLINICAL_URL = (
    "https://www.cancerimagingarchive.net/wp-content/uploads/"
    "NSCLCR01Radiogenomic_DATA_LABELS_2018-05-22_1500-shifted.csv"
)
#: GEO GSE103584 supplementary RNA-seq matrix (22,126 genes x 130 patients, tab-separated, gzip).
DEFAULT_RNASEQ_URL = (
    "https://ftp.ncbi.nlm.nih.gov/geo/series/GSE103nnn/GSE103584/suppl/"
    "GSE103584_R01_NSCLC_RNAseq.txt.gz"
)

ContentCheck = Literal["csv", "gzip", "none"]
_CHUNK = 1 << 20


class CorruptDownloadError(SourceError):
    """A downloaded file is complete as HTTP goes but its content is damaged or not as expected."""


@dataclass(frozen=True)
class FetchedFile:
    """A published file and where it came from."""

    path: Path
    url: str
    bytes: int
    sha256: str


def check_gzip(path: Path, *, url: str) -> None:
    """Decompress ``path`` to its end, which checks every member's CRC and length.

    Raises:
        CorruptDownloadError: naming ``url``, when the stream is truncated or damaged.
    """
    try:
        with gzip.open(path, "rb") as stream:
            while stream.read(_CHUNK):
                pass
    except (OSError, EOFError, zlib.error) as error:
        raise CorruptDownloadError(
            f"{url}: downloaded gzip is damaged or truncated: {error}"
        ) from error


def check_csv(path: Path, *, url: str) -> None:
    """Check that ``path`` is UTF-8 text whose first line has at least two comma-separated fields.

    Raises:
        CorruptDownloadError: naming ``url``, when it is empty, binary, or an HTML error page.
    """
    with open(path, "rb") as handle:
        head = handle.read(4096)
    try:
        first_line = head.decode("utf-8-sig").splitlines()[0] if head else ""
    except UnicodeDecodeError as error:
        raise CorruptDownloadError(f"{url}: downloaded CSV is not UTF-8 text") from error
    if first_line.lstrip().lower().startswith(("<!doctype", "<html")) or "," not in first_line:
        raise CorruptDownloadError(
            f"{url}: downloaded file does not start with a CSV header line: {first_line[:80]!r}"
        )


def fetch_file(
    http: HttpClient,
    url: str,
    dest: Path,
    *,
    check: ContentCheck,
    log: LogFn,
    attempts: int = 2,
) -> FetchedFile:
    """Download ``url`` to ``dest``: complete and checked, or not at all.

    A file that fails its content check is downloaded again (a damaged transfer) up to
    ``attempts`` times in all.

    Raises:
        ValueError: ``attempts`` < 1.
        CorruptDownloadError: the content check still fails after ``attempts`` downloads.
        HttpStatusError, RetriesExhaustedError: from the HTTP layer.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # A process killed mid-download leaves its hidden scratch file behind; clear those first.
    for stale in dest.parent.glob(f".*fetch-*-{dest.name}"):
        stale.unlink(missing_ok=True)
    attempt = 1
    while True:
        scratch = dest.parent / f".fetch-{uuid.uuid4().hex}-{dest.name}"
        try:
            downloaded: DownloadedFile = http.download_file(url, scratch, log=log)
            if downloaded.bytes == 0:
                raise CorruptDownloadError(f"{url}: the server returned an empty body")
            if check == "gzip":
                check_gzip(scratch, url=url)
            elif check == "csv":
                check_csv(scratch, url=url)
            os.replace(scratch, dest)
        except CorruptDownloadError as error:
            if attempt >= attempts:
                raise
            attempt += 1
            log(f"{error}; downloading again (attempt {attempt}/{attempts})")
            continue
        finally:
            scratch.unlink(missing_ok=True)
        log(f"{url}: {downloaded.bytes} bytes, sha256 {downloaded.sha256}")
        return FetchedFile(dest, url, downloaded.bytes, downloaded.sha256)
