"""Which segment of a DICOM SEG is the nodule.

The rule, in order (the first step that decides wins):

1. ``explicit``: the caller names a segment number. It must exist.
2. ``property_type``: the segments whose SegmentedPropertyTypeCodeSequence codes a nodule,
   neoplasm, tumour, mass or lesion (SNOMED CT / SRT codes, or such a code meaning). Exactly
   one such segment is chosen; several are ambiguous.
3. ``label``: the segments whose SegmentLabel or SegmentDescription says nodule, tumour,
   lesion, neoplasm, mass, cancer, carcinoma or GTV. Exactly one is chosen; several are
   ambiguous.
4. ``smallest_unlabelled``: among segments that do not describe a whole organ or body part
   (category "Anatomical Structure", or a type/label naming lung, liver, heart, body, ...),
   the non-empty one with the fewest foreground pixels. A tie is ambiguous.

Ambiguity, or no candidate at all, raises :class:`NoNoduleSegmentError` listing every segment,
so the caller can pass ``segment_number`` explicitly. A segment chosen by steps 1 to 3 that
turns out to have no foreground raises :class:`EmptySegmentError` rather than silently
falling through to another segment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from radiogenomics_assets.dicom.errors import EmptySegmentError, NoNoduleSegmentError

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

SelectionRule = Literal["explicit", "property_type", "label", "smallest_unlabelled"]

# SNOMED CT and the older SRT codes for nodule, neoplasm, tumour, mass, lesion and primary
# malignant neoplasm.
NODULE_TYPE_CODES: frozenset[tuple[str, str]] = frozenset(
    {
        ("SCT", "27925004"),
        ("SCT", "108369006"),
        ("SCT", "4147007"),
        ("SCT", "52988006"),
        ("SCT", "86049000"),
        ("SCT", "126713003"),
        ("SRT", "M-03010"),
        ("SRT", "M-80003"),
        ("SRT", "M-03000"),
        ("SRT", "M-01000"),
        ("SRT", "M-80006"),
    }
)
_NODULE_WORDS = re.compile(
    r"\b(nodul\w*|neoplasm\w*|tumou?r\w*|mass|lesions?|cancer|carcinoma|malignan\w*|gtv\w*)\b",
    re.IGNORECASE,
)
_ORGAN_WORDS = re.compile(
    r"\b(lungs?|liver|heart|kidneys?|spleen|pancreas|body|skin|bones?|aorta|trachea|"
    r"esophagus|oesophagus|spinal|spine|ribs?|vertebra\w*|airways?|bronch\w*|muscle|"
    r"stomach|bladder|brain|thorax|chest|mediastinum|pleura\w*|vessels?|artery|vein)\b",
    re.IGNORECASE,
)
_ANATOMY_CATEGORY_CODES = frozenset({("SCT", "123037004"), ("SRT", "T-D000A")})


@dataclass(frozen=True)
class SegmentInfo:
    """What a SEG says about one segment."""

    number: int
    label: str
    description: str
    category_code: tuple[str, str, str]
    type_code: tuple[str, str, str]

    def summary(self) -> str:
        return f"#{self.number} {self.label!r} (type {self.type_code[2]!r})"


@dataclass(frozen=True)
class SegmentChoice:
    segment: SegmentInfo
    rule: SelectionRule


def segment_infos(segmentation: Dataset) -> list[SegmentInfo]:
    """The SegmentSequence of a SEG as :class:`SegmentInfo` records."""
    return [
        SegmentInfo(
            number=int(item.SegmentNumber),
            label=str(item.get("SegmentLabel", "") or ""),
            description=str(item.get("SegmentDescription", "") or ""),
            category_code=_first_code(item, "SegmentedPropertyCategoryCodeSequence"),
            type_code=_first_code(item, "SegmentedPropertyTypeCodeSequence"),
        )
        for item in segmentation.get("SegmentSequence", [])
    ]


def choose_nodule_segment(
    segments: Sequence[SegmentInfo],
    foreground_pixels: Mapping[int, int],
    where: str,
    segment_number: int | None = None,
) -> SegmentChoice:
    """Apply the module's rule to pick the nodule segment.

    Args:
        segments: every segment of the SEG.
        foreground_pixels: foreground pixel count per segment number, over all frames.
        where: patient / SEG description for messages.
        segment_number: an explicit choice, overriding the rule.

    Raises:
        NoNoduleSegmentError: the explicit number does not exist, several segments fit one
            step, or no segment fits any step.
        EmptySegmentError: the chosen segment has no foreground pixel.
    """
    listing = ", ".join(s.summary() for s in segments) or "none"
    if not segments:
        raise NoNoduleSegmentError(f"{where}: the SEG defines no segments")
    if segment_number is not None:
        matches = [s for s in segments if s.number == segment_number]
        if not matches:
            raise NoNoduleSegmentError(
                f"{where}: segment number {segment_number} does not exist (segments: {listing})"
            )
        return _non_empty(SegmentChoice(matches[0], "explicit"), foreground_pixels, where)
    steps: tuple[tuple[SelectionRule, list[SegmentInfo]], ...] = (
        ("property_type", [s for s in segments if _codes_nodule(s)]),
        ("label", [s for s in segments if _NODULE_WORDS.search(f"{s.label} {s.description}")]),
    )
    for rule, matches in steps:
        if len(matches) == 1:
            return _non_empty(SegmentChoice(matches[0], rule), foreground_pixels, where)
        if len(matches) > 1:
            raise NoNoduleSegmentError(
                f"{where}: {len(matches)} segments qualify as the nodule by {rule} "
                f"({', '.join(s.summary() for s in matches)}); pass segment_number to choose"
            )
    candidates = [s for s in segments if not _is_organ(s)]
    if not candidates:
        raise NoNoduleSegmentError(
            f"{where}: every segment describes an organ or body part, none a nodule "
            f"(segments: {listing}); pass segment_number to choose"
        )
    filled = [s for s in candidates if foreground_pixels.get(s.number, 0) > 0]
    if not filled:
        raise EmptySegmentError(
            f"{where}: no foreground pixel in any candidate segment "
            f"({', '.join(s.summary() for s in candidates)})"
        )
    smallest = min(foreground_pixels[s.number] for s in filled)
    tied = [s for s in filled if foreground_pixels[s.number] == smallest]
    if len(tied) > 1:
        raise NoNoduleSegmentError(
            f"{where}: segments {', '.join(s.summary() for s in tied)} tie as the smallest "
            f"({smallest} pixels); pass segment_number to choose"
        )
    return SegmentChoice(tied[0], "smallest_unlabelled")


def _non_empty(
    choice: SegmentChoice, foreground_pixels: Mapping[int, int], where: str
) -> SegmentChoice:
    if foreground_pixels.get(choice.segment.number, 0) <= 0:
        raise EmptySegmentError(
            f"{where}: segment {choice.segment.summary()}, chosen by {choice.rule}, has no "
            "foreground pixel"
        )
    return choice


def _codes_nodule(segment: SegmentInfo) -> bool:
    scheme, value, meaning = segment.type_code
    return (scheme, value) in NODULE_TYPE_CODES or bool(_NODULE_WORDS.search(meaning))


def _is_organ(segment: SegmentInfo) -> bool:
    scheme, value, _ = segment.category_code
    if (scheme, value) in _ANATOMY_CATEGORY_CODES:
        return True
    text = f"{segment.type_code[2]} {segment.label} {segment.description}"
    return bool(_ORGAN_WORDS.search(text))


def _first_code(item: Dataset, keyword: str) -> tuple[str, str, str]:
    sequence = item.get(keyword)
    if not sequence:
        return ("", "", "")
    code = sequence[0]
    return (
        str(code.get("CodingSchemeDesignator", "") or ""),
        str(code.get("CodeValue", "") or ""),
        str(code.get("CodeMeaning", "") or ""),
    )
