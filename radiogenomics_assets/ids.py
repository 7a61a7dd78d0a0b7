"""Identifiers: the one gate every patient id and DICOM UID passes before a path or query."""

from __future__ import annotations

import re

PATIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: DICOM UI value: dot-separated digit groups, at most 64 characters.
UID_PATTERN = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")


class InvalidPatientIdError(ValueError):
    """A patient id holds characters outside ``[A-Za-z0-9_-]`` (or is empty or too long)."""


def validate_patient_id(patient_id: object, *, where: str = "") -> str:
    """Return ``patient_id`` unchanged if it is a safe identifier, else raise.

    Ids become partition keys, file-store folder names and SQL parameters, so anything
    that could act as a path separator, a quote or a wildcard is refused here.

    Raises:
        InvalidPatientIdError: naming the offending id (and ``where`` it came from).
    """
    if not isinstance(patient_id, str) or not PATIENT_ID_PATTERN.fullmatch(patient_id):
        origin = f" in {where}" if where else ""
        raise InvalidPatientIdError(
            f"invalid patient id {patient_id!r}{origin}: ids must match "
            f"{PATIENT_ID_PATTERN.pattern} (letters, digits, '_' and '-', at most 64)"
        )
    return patient_id


class InvalidUidError(ValueError):
    """A value that should be a DICOM UID is not one (it would reach a path or a URL)."""


def validate_uid(uid: object, *, what: str = "UID") -> str:
    """Return ``uid`` if it is a well-formed DICOM UID, else raise.

    Raises:
        InvalidUidError: naming ``what`` and the value received.
    """
    if not isinstance(uid, str) or len(uid) > 64 or not UID_PATTERN.fullmatch(uid):
        raise InvalidUidError(f"invalid {what} {uid!r}: expected digits and dots, at most 64")
    return uid
