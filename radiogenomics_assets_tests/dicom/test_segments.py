from __future__ import annotations

import pytest

from radiogenomics_assets.dicom.errors import EmptySegmentError, NoNoduleSegmentError
from radiogenomics_assets.dicom.segments import SegmentInfo, choose_nodule_segment

TISSUE = ("SCT", "85756007", "Tissue")
ANATOMY = ("SCT", "123037004", "Anatomical Structure")


def segment(
    number: int,
    label: str,
    type_code: tuple[str, str, str] = TISSUE,
    category: tuple[str, str, str] = TISSUE,
) -> SegmentInfo:
    return SegmentInfo(number, label, "", category, type_code)


def test_property_type_code_wins_over_labels() -> None:
    segments = [
        segment(1, "tumor outline"),
        segment(2, "Segment_2", type_code=("SCT", "27925004", "Nodule")),
    ]
    choice = choose_nodule_segment(segments, {1: 50, 2: 10}, "case")
    assert (choice.segment.number, choice.rule) == (2, "property_type")


def test_old_srt_codes_and_code_meanings_count() -> None:
    srt = [segment(1, "a", type_code=("SRT", "M-80003", "Neoplasm, Primary"))]
    assert choose_nodule_segment(srt, {1: 1}, "case").rule == "property_type"
    meaning = [segment(1, "a", type_code=("99LOCAL", "X1", "Lung mass"))]
    assert choose_nodule_segment(meaning, {1: 1}, "case").rule == "property_type"


@pytest.mark.parametrize("label", ["GTV-1", "Tumour", "lesion 1", "Nodule_R_upper"])
def test_label_words(label: str) -> None:
    segments = [segment(1, "Lung", type_code=("SCT", "39607008", "Lung")), segment(2, label)]
    choice = choose_nodule_segment(segments, {1: 900, 2: 30}, "case")
    assert (choice.segment.number, choice.rule) == (2, "label")


def test_smallest_non_organ_segment_when_nothing_is_labelled() -> None:
    segments = [
        segment(1, "Segment_1"),
        segment(2, "Segment_2"),
        segment(3, "Segment_3", category=ANATOMY),
        segment(4, "Segment_4"),
    ]
    choice = choose_nodule_segment(segments, {1: 400, 2: 120, 3: 5, 4: 0}, "case")
    assert (choice.segment.number, choice.rule) == (2, "smallest_unlabelled")


def test_single_generic_segment_is_the_nodule() -> None:
    choice = choose_nodule_segment([segment(1, "Segment_1")], {1: 77}, "case")
    assert choice.segment.number == 1


def test_ties_and_organs_only_are_refused() -> None:
    with pytest.raises(NoNoduleSegmentError, match=r"case: segments .*tie as the smallest \(9"):
        choose_nodule_segment([segment(1, "a"), segment(2, "b")], {1: 9, 2: 9}, "case")
    organs = [segment(1, "Liver", type_code=("SCT", "10200004", "Liver"))]
    with pytest.raises(NoNoduleSegmentError, match=r"every segment describes an organ.*'Liver'"):
        choose_nodule_segment(organs, {1: 9}, "case")


def test_explicit_number_must_exist_and_be_filled() -> None:
    segments = [segment(1, "a"), segment(2, "b")]
    assert choose_nodule_segment(segments, {1: 3, 2: 4}, "case", 2).rule == "explicit"
    with pytest.raises(NoNoduleSegmentError, match="segment number 5 does not exist"):
        choose_nodule_segment(segments, {1: 3}, "case", 5)
    with pytest.raises(EmptySegmentError, match=r"#2 'b'.*chosen by explicit"):
        choose_nodule_segment(segments, {1: 3}, "case", 2)


def test_labelled_nodule_that_is_empty_does_not_fall_through() -> None:
    segments = [segment(1, "Nodule"), segment(2, "Segment_2")]
    with pytest.raises(EmptySegmentError, match="chosen by label"):
        choose_nodule_segment(segments, {2: 50}, "case")


def test_all_candidates_empty() -> None:
    with pytest.raises(EmptySegmentError, match="no foreground pixel in any candidate"):
        choose_nodule_segment([segment(1, "Segment_1")], {}, "case")
    with pytest.raises(NoNoduleSegmentError, match="defines no segments"):
        choose_nodule_segment([], {}, "case")
