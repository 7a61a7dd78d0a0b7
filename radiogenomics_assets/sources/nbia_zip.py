"""Unpack one NBIA ``getImage`` zip into verified ``<SOPInstanceUID>.dcm`` files.

The zip holds a ``LICENSE`` entry (skipped), one entry per DICOM instance and, when
``IncludeMD5=yes`` was asked for, ``md5hashes.csv`` (``Filename,MD5Hash``). Member names are
never used as paths: each member is streamed to a hidden scratch name, checked, and renamed after
its own SOPInstanceUID, so a hostile name such as ``../x`` cannot escape the folder.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from radiogenomics_assets.sources.instances import (
    ChecksumMismatchError,
    CorruptArchiveError,
    SeriesAssembler,
)

LICENSE_MEMBER = "LICENSE"
MD5_MEMBER = "md5hashes.csv"
_CHUNK = 1 << 20
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError)


def _read_md5_table(archive: zipfile.ZipFile, member: zipfile.ZipInfo, series_uid: str) -> dict:
    try:
        text = archive.read(member).decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ChecksumMismatchError(
            f"series {series_uid}: {MD5_MEMBER} is not UTF-8 text", series_uid=series_uid
        ) from error
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or not {"Filename", "MD5Hash"} <= set(reader.fieldnames):
        raise ChecksumMismatchError(
            f"series {series_uid}: {MD5_MEMBER} has columns {reader.fieldnames}, "
            "expected Filename,MD5Hash",
            series_uid=series_uid,
        )
    table: dict[str, str] = {}
    for line, row in enumerate(reader, start=2):
        name, digest = (row.get("Filename") or "").strip(), (row.get("MD5Hash") or "").strip()
        if not name or len(digest) != 32:
            raise ChecksumMismatchError(
                f"series {series_uid}: {MD5_MEMBER} line {line} is not 'name,32-hex md5': {row}",
                series_uid=series_uid,
            )
        table[PurePosixPath(name).name] = digest.lower()
    return table


def extract_series_zip(
    zip_path: Path,
    assembler: SeriesAssembler,
    *,
    require_md5: bool,
    on_instance: Callable[[], None] | None = None,
) -> None:
    """Verify and place every instance of the zip at ``zip_path`` through ``assembler``.

    Raises:
        CorruptArchiveError: the zip is truncated or corrupt (bad central directory, CRC).
        ChecksumMismatchError: with ``require_md5``, ``md5hashes.csv`` is missing, malformed,
            lacks a member, lists a file not in the zip, or disagrees with a member's MD5.
        DicomValidationError (subclasses): from the assembler's verifier.
    """
    series_uid = assembler.series_uid
    try:
        archive = zipfile.ZipFile(zip_path)
    except _ZIP_ERRORS as error:
        raise CorruptArchiveError(
            f"series {series_uid}: getImage returned a corrupt or truncated zip "
            f"({zip_path.stat().st_size} bytes): {error}",
            series_uid=series_uid,
        ) from error
    with archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        by_name = {PurePosixPath(info.filename).name: info for info in members}
        md5_table: dict[str, str] | None = None
        if MD5_MEMBER in by_name:
            md5_table = _read_md5_table(archive, by_name[MD5_MEMBER], series_uid)
        elif require_md5:
            raise ChecksumMismatchError(
                f"series {series_uid}: MD5 verification was requested but the zip has no "
                f"{MD5_MEMBER}",
                series_uid=series_uid,
            )
        checked: set[str] = set()
        for index, info in enumerate(members):
            base = PurePosixPath(info.filename).name
            if base in {LICENSE_MEMBER, MD5_MEMBER}:
                continue
            incoming = assembler.dest_dir / f".incoming-{index}"
            digest = hashlib.md5()
            try:
                with archive.open(info) as source, open(incoming, "wb") as out:
                    for chunk in iter(lambda source=source: source.read(_CHUNK), b""):
                        digest.update(chunk)
                        out.write(chunk)
            except _ZIP_ERRORS as error:
                incoming.unlink(missing_ok=True)
                raise CorruptArchiveError(
                    f"series {series_uid}: zip member {info.filename!r} is corrupt: {error}",
                    series_uid=series_uid,
                ) from error
            if md5_table is not None:
                expected = md5_table.get(base)
                if expected is None:
                    raise ChecksumMismatchError(
                        f"series {series_uid}: zip member {info.filename!r} has no line in "
                        f"{MD5_MEMBER}",
                        series_uid=series_uid,
                    )
                if digest.hexdigest() != expected:
                    raise ChecksumMismatchError(
                        f"series {series_uid}: zip member {info.filename!r} has MD5 "
                        f"{digest.hexdigest()} but {MD5_MEMBER} says {expected}",
                        series_uid=series_uid,
                    )
                checked.add(base)
            assembler.add(incoming, origin=info.filename)
            if on_instance is not None:
                on_instance()
        if md5_table is not None and set(md5_table) - checked:
            missing = sorted(set(md5_table) - checked)
            raise ChecksumMismatchError(
                f"series {series_uid}: {MD5_MEMBER} lists {len(missing)} file(s) absent from "
                f"the zip, e.g. {missing[:3]}",
                series_uid=series_uid,
            )
