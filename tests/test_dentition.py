"""Tooth numbering: FDI lists, FDI -> Universal, the left/right mirror."""

from __future__ import annotations

import pytest

from xrayreport.dentition import (
    ALL_TEETH,
    PERMANENT_TEETH,
    PRIMARY_TEETH,
    THIRD_MOLARS,
    check_fdi,
    fdi_to_universal,
    is_primary,
    is_valid_fdi,
    mirror_fdi,
    permanent_successor,
)
from xrayreport.errors import UnknownNameError


def test_the_lists_hold_every_tooth_once() -> None:
    assert len(PERMANENT_TEETH) == 32 and len(PRIMARY_TEETH) == 20
    assert len(set(ALL_TEETH)) == 52
    assert PERMANENT_TEETH[:3] == ("11", "12", "13") and PERMANENT_TEETH[-1] == "48"
    assert PRIMARY_TEETH[0] == "51" and PRIMARY_TEETH[-1] == "85"
    assert {"18", "28", "38", "48"} == THIRD_MOLARS


@pytest.mark.parametrize(
    ("fdi", "universal"),
    [
        # Universal runs from the upper right third molar (1) across the upper jaw to the upper left
        # (16), then from the lower left third molar (17) back to the lower right (32).
        ("18", "1"),
        ("11", "8"),
        ("21", "9"),
        ("28", "16"),
        ("38", "17"),
        ("31", "24"),
        ("41", "25"),
        ("48", "32"),
        ("16", "3"),  # upper right first molar
        ("36", "19"),  # lower left first molar
        ("46", "30"),  # lower right first molar
        # Primary teeth: A (upper right second molar) .. J (upper left), K (lower left) .. T (lower right).
        ("55", "A"),
        ("51", "E"),
        ("61", "F"),
        ("65", "J"),
        ("75", "K"),
        ("71", "O"),
        ("81", "P"),
        ("85", "T"),
    ],
)
def test_fdi_to_universal(fdi: str, universal: str) -> None:
    assert fdi_to_universal(fdi) == universal


def test_universal_numbering_is_a_one_to_one_map() -> None:
    permanent = [fdi_to_universal(t) for t in PERMANENT_TEETH]
    primary = [fdi_to_universal(t) for t in PRIMARY_TEETH]
    assert sorted(permanent, key=int) == [str(n) for n in range(1, 33)]
    assert sorted(primary) == [chr(c) for c in range(ord("A"), ord("T") + 1)]


@pytest.mark.parametrize(
    ("fdi", "mirrored"), [("11", "21"), ("28", "18"), ("36", "46"), ("47", "37"), ("55", "65"), ("72", "82")]
)
def test_mirror_swaps_left_and_right(fdi: str, mirrored: str) -> None:
    assert mirror_fdi(fdi) == mirrored


def test_mirror_is_its_own_inverse_and_keeps_the_position() -> None:
    for tooth in ALL_TEETH:
        mirrored = mirror_fdi(tooth)
        assert mirror_fdi(mirrored) == tooth
        assert mirrored[1] == tooth[1] and mirrored != tooth
        assert is_primary(mirrored) == is_primary(tooth)
    # In Universal numbers a mirror reflects each jaw: 1 <-> 16 above, 17 <-> 32 below.
    for tooth in PERMANENT_TEETH:
        total = int(fdi_to_universal(tooth)) + int(fdi_to_universal(mirror_fdi(tooth)))
        assert total == (17 if tooth[0] in "12" else 49)


def test_primary_and_validity() -> None:
    assert is_primary("54") and not is_primary("14")
    assert is_valid_fdi("85") and is_valid_fdi("11")
    for bad in ("19", "56", "10", "91", "1", "111", "", "A", " 11"):
        assert not is_valid_fdi(bad)


@pytest.mark.parametrize("call", [check_fdi, fdi_to_universal, mirror_fdi, is_primary])
def test_unknown_numbers_fail_listing_the_valid_ones(call: object) -> None:
    with pytest.raises(UnknownNameError) as caught:
        call("19")  # type: ignore[operator]
    message = str(caught.value)
    assert message.startswith("unknown FDI tooth number '19'; valid FDI tooth numbers are: 11, 12,")
    assert "85" in message
    assert isinstance(caught.value, KeyError)


def test_the_permanent_successor_of_a_primary_tooth() -> None:
    assert [permanent_successor(fdi) for fdi in ("51", "55", "65", "73", "85")] == ["11", "15", "25", "33", "45"]
    with pytest.raises(ValueError, match="permanent tooth"):
        permanent_successor("36")
