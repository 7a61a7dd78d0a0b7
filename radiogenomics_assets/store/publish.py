"""Raw files and series folders published under their content's name, together with their rows.

A raw asset fetches into a hidden staging name in the file store, parses and verifies it there,
and hands the DuckDB IO manager a :class:`Staged` item with its rows. The IO manager renames it to
its content-addressed name inside the transaction that writes the rows, under the store's writer
lock, and prunes superseded versions only after that transaction committed:

- a refused or failed run never publishes anything: the previous file and its rows stay as they
  were, byte for byte;
- a name, once published, always holds the same complete bytes (``<sha256>.csv``, a series
  folder named by a digest of its instances' sha256s), so rows can never point at a file
  whose content changed under them;
- a process killed between the rename and the commit leaves a complete, unreferenced version
  that the next successful publish of the same item prunes.

Hidden entries (``.staging-*``, and the fetchers' own ``.tmp-*`` / ``.fetch-*``) left by a killed
run are removed when the next run of that asset stages; like :meth:`FileStore.atomic_directory`,
this assumes one run at a time per asset (partition).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from radiogenomics_assets.store.files import FileStore, check_component, fsync_dir, sha256_file

_STAGING = ".staging-"


@dataclass(frozen=True)
class Staged:
    """A verified file or folder under a hidden staging name, and the name it will publish as."""

    staging: Path
    final: Path
    relpath: str
    bytes: int
    sha256: str
    #: Where it came from, as the user named it (path or URL); stored in ``raw.stored_files``.
    origin: str | None = None

    def publish(self) -> None:
        """Rename the staging entry to its final name (or drop it if that name already exists).

        The final name is derived from the content, so an existing entry holds the same bytes.

        Raises:
            FileNotFoundError: the staging entry is gone (removed by a concurrent run's cleanup).
        """
        if not self.staging.exists():
            if self.final.exists():  # published by an earlier attempt of the same transaction
                return
            raise FileNotFoundError(f"staged {self.relpath} vanished from {self.staging}")
        if self.final.exists():
            _remove(self.staging)
        else:
            os.replace(self.staging, self.final)
        fsync_dir(self.final.parent)  # durable before the commit that refers to it

    def prune_superseded(self) -> list[Path]:
        """Remove the other published versions beside the final name; return what was removed.

        Call only once the rows that point at :attr:`final` are committed.
        """
        removed = []
        for sibling in sorted(self.final.parent.iterdir()):
            if sibling.name.startswith(".") or sibling == self.final:
                continue
            _remove(sibling)
            removed.append(sibling)
        return removed

    def discard(self) -> None:
        _remove(self.staging)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _abandon(staging: Path) -> None:
    """Remove a failed staging entry, and its folder if nothing was ever published there."""
    _remove(staging)
    with contextlib.suppress(OSError):  # not empty: earlier versions, or another run's staging
        staging.parent.rmdir()


def _clear_stale(folder: Path) -> None:
    """Hidden leftovers of killed runs: staging entries and the fetchers' scratch files."""
    for entry in folder.iterdir():
        if entry.name.startswith((_STAGING, ".tmp-", ".fetch-")):
            _remove(entry)


def digest_of_files(sha256s: Mapping[str, str]) -> str:
    """One sha256 over a folder's files (name → sha256): names and contents, in name order."""
    digest = hashlib.sha256()
    for name in sorted(sha256s):
        digest.update(f"{name}\0{sha256s[name]}\n".encode())
    return digest.hexdigest()


@contextmanager
def staging_file(store: FileStore, *folder: str) -> Iterator[Path]:
    """A fresh hidden path in ``folder`` to fetch into; removed if the block raises.

    On a clean exit the file stays for :func:`stage_file`, which names its final version.
    """
    parent = store.path(*folder)
    parent.mkdir(parents=True, exist_ok=True)
    _clear_stale(parent)
    staging = parent / f"{_STAGING}{uuid.uuid4().hex}"
    try:
        yield staging
    except BaseException:
        _abandon(staging)
        raise


def stage_file(
    store: FileStore, staging: Path, suffix: str, *, origin: str | None = None
) -> Staged:
    """The :class:`Staged` item of a fetched file: final name ``<sha256><suffix>`` beside it."""
    sha256 = sha256_file(staging)
    final = staging.parent / check_component(f"{sha256}{suffix}")
    return Staged(
        staging=staging,
        final=final,
        relpath=final.relative_to(store.root).as_posix(),
        bytes=staging.stat().st_size,
        sha256=sha256,
        origin=origin,
    )


@contextmanager
def staging_folder(store: FileStore, *folder: str) -> Iterator[Path]:
    """A fresh, empty hidden folder inside ``folder`` to fetch a series into; removed on error."""
    parent = store.path(*folder)
    parent.mkdir(parents=True, exist_ok=True)
    _clear_stale(parent)
    staging = parent / f"{_STAGING}{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        _abandon(staging)
        raise


def stage_folder(
    store: FileStore,
    staging: Path,
    sha256s: Mapping[str, str],
    *,
    origin: str | None = None,
    digest_chars: int = 16,
) -> Staged:
    """The :class:`Staged` item of a fetched folder whose files have the given sha256s.

    Its final name is the first ``digest_chars`` hex characters (64 bits, short paths) of
    :func:`digest_of_files`; two versions of one series colliding there is not a practical
    concern.

    Raises:
        ValueError: ``sha256s`` does not name exactly the folder's files.
    """
    names = {p.name for p in staging.iterdir()}
    if names != set(sha256s):
        raise ValueError(f"{staging}: holds {sorted(names)}, expected {sorted(sha256s)}")
    digest = digest_of_files(sha256s)
    final = staging.parent / digest[:digest_chars]
    return Staged(
        staging=staging,
        final=final,
        relpath=final.relative_to(store.root).as_posix(),
        bytes=sum((staging / name).stat().st_size for name in sha256s),
        sha256=digest,
        origin=origin,
    )
