"""The file store: binaries (DICOM, NIfTI, model weights) under one root, written atomically.

Every write goes to a temporary name in the destination folder and is renamed into place only
once complete, so a crash never leaves a half-written file under its final name. Callers get a
:class:`StoredFile` with the path, size and sha256 that DuckDB rows carry.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_SAFE_COMPONENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$")
_CHUNK = 1 << 20


class UnsafePathError(ValueError):
    """A file-store path component could escape the store or name a hidden file."""


@dataclass(frozen=True)
class StoredFile:
    """A file in the store: where it is and what it holds."""

    path: Path
    relpath: str
    bytes: int
    sha256: str


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_component(part: str) -> str:
    """Return ``part`` if it is a safe single path component, else raise UnsafePathError."""
    if not isinstance(part, str) or not _SAFE_COMPONENT.fullmatch(part) or part in {".", ".."}:
        raise UnsafePathError(
            f"unsafe file-store path component {part!r}: use letters, digits, '.', '_' and '-' "
            "and do not start with '.' or '-'"
        )
    return part


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (before a commit or a caller that relies on it)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def replace_directory(final: Path) -> Iterator[Path]:
    """Yield a temporary sibling folder that replaces ``final`` only on a clean exit.

    A folder under its final name is therefore always complete; an interrupted fill leaves only
    a hidden ``.partial`` sibling, removed on the next try.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".partial-*-{final.name}"):
        shutil.rmtree(stale, ignore_errors=True)
    temp = final.parent / f".partial-{uuid.uuid4().hex}-{final.name}"
    temp.mkdir()
    try:
        yield temp
        if final.exists():
            retired = final.parent / f".retired-{uuid.uuid4().hex}-{final.name}"
            os.replace(final, retired)
            os.replace(temp, final)
            shutil.rmtree(retired)
        else:
            os.replace(temp, final)
        fsync_dir(final.parent)
    finally:
        if temp.exists():
            shutil.rmtree(temp, ignore_errors=True)


def _temp_pattern(name: str) -> str:
    """The glob of :meth:`FileStore.atomic_path`'s temporary names for ``name``, and no other
    (``.tmp-*-ct.nii.gz`` would also match another file's ``.tmp-<uuid>-x-ct.nii.gz``)."""
    return ".tmp-" + "[0-9a-f]" * 32 + "-" + glob.escape(name)


class FileStore:
    """Binaries under ``root``, addressed by validated relative path components."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()

    def path(self, *parts: str) -> Path:
        """Absolute path of ``parts`` under the root; every component is validated."""
        if not parts:
            raise UnsafePathError("a file-store path needs at least one component")
        return self.root.joinpath(*(check_component(p) for p in parts))

    def describe(self, *parts: str) -> StoredFile:
        """The :class:`StoredFile` record of a file already in the store."""
        path = self.path(*parts)
        return StoredFile(path, self._relpath(path), path.stat().st_size, sha256_file(path))

    @contextmanager
    def atomic_path(self, *parts: str) -> Iterator[Path]:
        """Yield a temporary path; on a clean exit it is fsynced and renamed to ``parts``.

        On an exception the temporary file is removed and the final name is untouched. After
        a rename, the temporary files of earlier writes of the same name (left by a killed
        run) are removed: one run at a time writes a name, as for :meth:`atomic_directory`.
        """
        final = self.path(*parts)
        final.parent.mkdir(parents=True, exist_ok=True)
        # Hidden, and ending in the final name so writers that pick a format by extension
        # (SimpleITK's ".nii.gz", say) see the right one.
        temp = final.parent / f".tmp-{uuid.uuid4().hex}-{final.name}"
        try:
            yield temp
            with open(temp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(temp, final)
            fsync_dir(final.parent)
            for stale in final.parent.glob(_temp_pattern(final.name)):
                stale.unlink(missing_ok=True)
        finally:
            temp.unlink(missing_ok=True)

    def write_bytes(self, data: bytes, *parts: str) -> StoredFile:
        with self.atomic_path(*parts) as temp:
            temp.write_bytes(data)
        final = self.path(*parts)
        return StoredFile(final, self._relpath(final), len(data), sha256_bytes(data))

    @contextmanager
    def atomic_directory(self, *parts: str) -> Iterator[Path]:
        """Yield a temporary folder that replaces folder ``parts`` only on a clean exit.

        A folder that exists under its final name is therefore always complete; an
        interrupted fill leaves only a hidden ``.partial`` folder, removed on the next try.
        """
        with replace_directory(self.path(*parts)) as temp:
            yield temp

    def _relpath(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()
