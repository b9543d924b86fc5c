"""Tooth numbering: FDI two-digit notation, Universal numbering, and the mirror map.

FDI: the first digit is the quadrant (1 upper right, 2 upper left, 3 lower left, 4 lower right;
5-8 the same for primary teeth), the second the position from the midline (1..8 permanent,
1..5 primary). On a panoramic the patient's right is on the viewer's left.
"""

from __future__ import annotations

from .errors import UnknownNameError

PERMANENT_TEETH: tuple[str, ...] = tuple(f"{q}{p}" for q in (1, 2, 3, 4) for p in range(1, 9))
PRIMARY_TEETH: tuple[str, ...] = tuple(f"{q}{p}" for q in (5, 6, 7, 8) for p in range(1, 6))
ALL_TEETH: tuple[str, ...] = PERMANENT_TEETH + PRIMARY_TEETH
THIRD_MOLARS: frozenset[str] = frozenset({"18", "28", "38", "48"})

# A horizontal flip of the image swaps the patient's left and right side.
_MIRROR_QUADRANT = {"1": "2", "2": "1", "3": "4", "4": "3", "5": "6", "6": "5", "7": "8", "8": "7"}


def is_valid_fdi(fdi: str) -> bool:
    """True for the 52 FDI numbers of the permanent (11-48) and primary (51-85) dentition."""
    return fdi in _ALL_TEETH_SET


_ALL_TEETH_SET = frozenset(ALL_TEETH)


def is_primary(fdi: str) -> bool:
    """True for primary ("milk") teeth, FDI quadrants 5-8."""
    return check_fdi(fdi)[0] in "5678"


def permanent_successor(fdi: str) -> str:
    """The permanent tooth that erupts in place of primary tooth ``fdi`` (55 -> 15, 83 -> 43).

    >>> permanent_successor("55"), permanent_successor("83")
    ('15', '43')
    """
    if not is_primary(fdi):
        raise ValueError(f"{fdi} is a permanent tooth; only primary teeth (51-85) have a successor")
    return f"{int(fdi[0]) - 4}{fdi[1]}"


def check_fdi(fdi: str) -> str:
    """Return ``fdi`` unchanged, or raise :class:`UnknownNameError` listing the valid numbers."""
    if fdi not in _ALL_TEETH_SET:
        raise UnknownNameError("FDI tooth number", fdi, ALL_TEETH)
    return fdi


def mirror_fdi(fdi: str) -> str:
    """The tooth in the same position on the other side of the mouth (11 <-> 21, 36 <-> 46, 55 <-> 65)."""
    check_fdi(fdi)
    return _MIRROR_QUADRANT[fdi[0]] + fdi[1]


def fdi_to_universal(fdi: str) -> str:
    """Universal (ADA) number: permanent 1-32 from the upper right third molar, primary A-T.

    >>> fdi_to_universal("18"), fdi_to_universal("11"), fdi_to_universal("21"), fdi_to_universal("48")
    ('1', '8', '9', '32')
    >>> fdi_to_universal("55"), fdi_to_universal("85")
    ('A', 'T')
    """
    check_fdi(fdi)
    quadrant, position = int(fdi[0]), int(fdi[1])
    if quadrant <= 4:
        # Universal runs clockwise as seen by the dentist: upper right -> upper left -> lower left -> lower right.
        start, direction = {1: (9, -1), 2: (8, 1), 3: (25, -1), 4: (24, 1)}[quadrant]
        return str(start + direction * position)
    start, direction = {5: (6, -1), 6: (5, 1), 7: (16, -1), 8: (15, 1)}[quadrant]
    return chr(ord("A") - 1 + start + direction * position)
