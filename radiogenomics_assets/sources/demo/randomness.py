"""Named random streams and UIDs derived from the seed, so every draw is reproducible.

Each part of the generator draws from its own stream (``rng(seed, "expression", "genes")``,
``rng(seed, "phantom", "R01-004")``), so adding draws to one part never shifts the numbers of
another. Every per-patient draw comes from that patient's own streams (:func:`patient_rng`), so a
patient does not depend on which other patients exist, and a cohort grows without changing the
patients it had.
"""

from __future__ import annotations

import hashlib

import numpy as np
from pydicom.uid import UID, generate_uid

#: pydicom's registered root for generated UIDs; the suffix is a hash of the seed and labels.
UID_PREFIX = "1.2.826.0.1.3680043.8.498."
#: Fixed implementation class UID written in every file meta header of the demo cohort.
IMPLEMENTATION_CLASS_UID = UID("1.2.826.0.1.3680043.8.498.1")
IMPLEMENTATION_VERSION_NAME = "RGA_DEMO_1"


def _key(seed: int, labels: tuple[str, ...]) -> list[int]:
    text = "\x1f".join([str(seed), *labels]).encode("utf-8")
    digest = hashlib.sha256(text).digest()
    return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 32, 4)]


def rng(seed: int, *labels: str) -> np.random.Generator:
    """A generator for the stream named by ``labels`` under ``seed``."""
    return np.random.default_rng(np.random.SeedSequence(_key(seed, labels)))


def patient_rng(seed: int, arrival: int, part: str) -> np.random.Generator:
    """The stream of ``part`` (``"latents"``, ``"clinical"``, ...) of the ``arrival``-th patient."""
    return rng(seed, "patient", str(arrival), part)


def uid(seed: int, *labels: str) -> UID:
    """A valid DICOM UID that depends only on ``seed`` and ``labels``."""
    return generate_uid(prefix=UID_PREFIX, entropy_srcs=[str(seed), *labels])
