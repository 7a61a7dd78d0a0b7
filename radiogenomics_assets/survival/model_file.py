"""The one file format of a fitted model, whatever its estimator family.

A model file (suffix :data:`MODEL_FILE_SUFFIX`) is a zip archive of two members:

* ``header.json``: plain JSON anyone can read without this project: the format and its version,
  the ``estimator`` family, the fit's identity (model, spec_version, fold, seed, fit_splits), the
  versions of the libraries its payload depends on, and each family's own plain fields.
* the family's payload (:data:`PAYLOAD_MEMBERS`): ``payload.joblib`` for CoxNet (scikit-survival
  objects, pickled: read only files this project wrote) and ``payload.pt`` for networks (tensors
  and plain data, loadable with ``torch.load(weights_only=True)``).

Readers dispatch on the header's ``estimator``, never on the file name: :func:`read_header`
reads only JSON, :func:`read_model_file` also hands over the payload's bytes for the family's own
loader (:func:`~.fusion.load_model`, :func:`~.neural.load_net`; :func:`~.fitting.load_predictor`
picks between them). This module imports neither torch nor scikit-survival, and no family module:
the families write and read through it.
"""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from collections.abc import Callable, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO, Any

from radiogenomics_assets.survival.registry import Estimator

MODEL_FILE_SUFFIX = ".model"
FORMAT = "radiogenomics_assets.model"
FORMAT_VERSION = 1
HEADER_MEMBER = "header.json"
PAYLOAD_MEMBERS: Mapping[Estimator, str] = {"coxnet": "payload.joblib", "net": "payload.pt"}
#: What every header holds besides the format, whatever the family.
IDENTITY_FIELDS = ("estimator", "model", "spec_version", "fold", "seed", "fit_splits", "libraries")

# A fixed member time keeps the bytes of a refit equal, so the file's hash only follows content.
_MEMBER_TIME = (1980, 1, 1, 0, 0, 0)


class ModelFileError(ValueError):
    """A file is not a model file this code reads, or not one of the family asked for."""


def library_versions(*distributions: str) -> dict[str, str | None]:
    """Installed versions of ``distributions`` (without importing them), ``None`` if absent."""
    found: dict[str, str | None] = {}
    for name in distributions:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def _member(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_MEMBER_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16  # rw-r--r-- when extracted
    return info


def write_model_file(
    path: Path, header: Mapping[str, Any], write_payload: Callable[[IO[bytes]], None]
) -> None:
    """Write a model file: ``header`` (plus the format fields) and the family's payload.

    Args:
        path: where to write; making the write atomic (a temporary path) is the caller's job.
        header: JSON-serialisable fields, :data:`IDENTITY_FIELDS` at least, without the format
            fields (this function writes them); ``estimator`` names the family and so the
            payload member.
        write_payload: writes the payload to the binary stream it is given.

    Raises:
        ModelFileError: the header lacks an identity field, sets a format field, names no known
            family, or is not plain JSON (NaN included).
        OSError: the file cannot be written.
    """
    missing = [name for name in IDENTITY_FIELDS if name not in header]
    if missing:
        raise ModelFileError(f"{path}: a model file header needs {missing}")
    if "format" in header or "format_version" in header:
        raise ModelFileError(f"{path}: the format fields are the writer's, not the caller's")
    estimator = header["estimator"]
    if estimator not in PAYLOAD_MEMBERS:
        raise ModelFileError(f"{path}: no model file format for estimator {estimator!r}")
    try:
        text = json.dumps(
            {"format": FORMAT, "format_version": FORMAT_VERSION, **header},
            indent=2,
            allow_nan=False,
        )
    except (TypeError, ValueError) as error:
        raise ModelFileError(f"{path}: the header is not plain JSON: {error}") from error
    # Buffered: torch.save needs a seekable stream, which a zip member being written is not.
    payload = io.BytesIO()
    write_payload(payload)
    with zipfile.ZipFile(Path(path), "w") as archive:
        archive.writestr(_member(HEADER_MEMBER), text.encode("utf-8"))
        archive.writestr(_member(PAYLOAD_MEMBERS[estimator]), payload.getvalue())


def _open(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(Path(path))
    except zipfile.BadZipFile as error:  # not a zip, or cut before its central directory
        raise ModelFileError(
            f"{path} is not a model file (a zip archive with {HEADER_MEMBER}): {error}"
        ) from error


def _header(path: Path, archive: zipfile.ZipFile) -> dict[str, Any]:
    names = archive.namelist()
    if HEADER_MEMBER not in names:
        raise ModelFileError(f"{path} is a zip archive without {HEADER_MEMBER}: not a model file")
    try:
        header = json.loads(archive.read(HEADER_MEMBER).decode("utf-8"))
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as error:
        raise ModelFileError(f"{path}: its {HEADER_MEMBER} is unreadable: {error}") from error
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(f"{path}: {HEADER_MEMBER} does not name the format {FORMAT!r}")
    if header.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} is a model file of format version {header.get('format_version')!r}; "
            f"this code reads version {FORMAT_VERSION}"
        )
    estimator = header.get("estimator")
    if estimator not in PAYLOAD_MEMBERS:
        raise ModelFileError(f"{path} holds a model of unknown estimator family {estimator!r}")
    missing = [name for name in IDENTITY_FIELDS if name not in header]
    if missing:
        raise ModelFileError(f"{path}: {HEADER_MEMBER} lacks {missing}")
    payloads = [name for name in names if name != HEADER_MEMBER]
    if payloads != [PAYLOAD_MEMBERS[estimator]]:
        raise ModelFileError(
            f"{path}: its header says {estimator}, whose payload is "
            f"{PAYLOAD_MEMBERS[estimator]}, but the archive holds {payloads}"
        )
    return header


def read_header(path: Path) -> dict[str, Any]:
    """The header of the model file at ``path`` (JSON only: nothing is unpickled).

    Also checks that the archive holds exactly the payload member of the header's family.

    Raises:
        ModelFileError: not a model file, an unknown format version or family, or a payload
            member that does not match the header.
        OSError: the file cannot be opened.
    """
    with _open(path) as archive:
        return _header(path, archive)


def read_model_file(path: Path, estimator: Estimator) -> tuple[dict[str, Any], bytes]:
    """The header and the payload's bytes of a model file of the family ``estimator``.

    Raises:
        ModelFileError: as :func:`read_header`; the file holds another family; the payload is
            corrupt (its CRC or compressed data do not check).
        OSError: the file cannot be opened.
    """
    with _open(path) as archive:
        header = _header(path, archive)
        if header["estimator"] != estimator:
            raise ModelFileError(
                f"{path} holds a {header['estimator']} model, not a {estimator} model"
            )
        try:
            payload = archive.read(PAYLOAD_MEMBERS[estimator])
        except (zipfile.BadZipFile, zlib.error, EOFError) as error:
            raise ModelFileError(f"{path}: its payload is corrupt: {error}") from error
    return header, payload
