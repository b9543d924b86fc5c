"""Raw detections -> teeth with unique FDI numbers, findings on teeth, missing teeth, a quality verdict.

Everything here works in original image pixels and knows dentistry, not the network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from ..dentition import PERMANENT_TEETH, PRIMARY_TEETH, is_primary, permanent_successor
from ..findings import Finding, Quality, QualityWarning, Tooth

Box = tuple[float, float, float, float]

# A permanent tooth is not "missing" while the primary tooth it replaces is still there.
_SUCCESSOR = {fdi: permanent_successor(fdi) for fdi in PRIMARY_TEETH}
# Age-plausible dentition, see implausible_primary_teeth: a successor "beneath" a primary tooth overlaps at least
# this fraction of the narrower box's width, and its crown tip lies at least this many primary-tooth heights beyond
# the primary tooth's occlusal edge, towards the root.
MIN_SUCCESSOR_OVERLAP = 0.25
MIN_SUCCESSOR_DEPTH = 0.3
# A primary tooth lies in the other arch when its vertical overlap with that arch's nearest permanent teeth exceeds
# the overlap with its own arch's by more than this (mean fraction of its height, nearest ARCH_NEIGHBOURS per arch).
ARCH_MARGIN = 0.5
ARCH_NEIGHBOURS = 3
# A tooth that held an implausible primary number may stay unnumbered (a duplicate detection, dropped) rather
# than take a free number the model gives it less than this probability.
MIN_RENUMBER_PROBABILITY = 0.05
# A finding lies on a tooth when at least this fraction of the finding's box is inside the tooth's box.
MIN_OVERLAP_ON_TOOTH = 0.3
MIN_TEETH_FOR_PANORAMIC = 8
_DECAY = frozenset({"caries", "deep_caries"})
UPSIDE_DOWN_MARGIN = 0.03  # mean tooth score difference; see looks_upside_down


@dataclass(frozen=True)
class Detection:
    """One detected object in original image pixels."""

    label: str
    box: tuple[float, float, float, float]
    score: float
    fdi_probabilities: NDArray[np.float64] | None = None


def number_teeth(teeth: list[Detection], fdi_classes: tuple[str, ...]) -> list[Tooth]:
    """Give each detected tooth a distinct, age-plausible FDI number, maximising the joint probability.

    Two teeth cannot share a number: a Hungarian assignment over -log p(number) resolves conflicts
    the independent arg-max would leave (e.g. two "36"), so a tooth with a confusable neighbour gets
    its next most likely number.

    A primary number the dentition makes implausible (:func:`implausible_primary_teeth`: a "65" beside an
    erupted 25, a "72" between 31 and 32) is excluded and the scan assigned again, until every primary number
    left is plausible. A tooth that held an excluded number is dropped as a duplicate detection where no free
    number has at least :data:`MIN_RENUMBER_PROBABILITY` for it (else it would fill a truly missing position).
    """
    if not teeth:
        return []
    teeth = sorted(teeth, key=lambda t: -t.score)[: len(fdi_classes)]
    probabilities = np.stack([t.fdi_probabilities for t in teeth if t.fdi_probabilities is not None])
    cost = -np.log(np.clip(probabilities, 1e-9, 1.0))
    excluded: set[str] = set()
    suspects: set[int] = set()  # teeth that held an excluded number
    while True:
        assignment = _assign(cost, [c for c, fdi in enumerate(fdi_classes) if fdi not in excluded], suspects)
        implausible = implausible_primary_teeth({fdi_classes[c]: teeth[r].box for r, c in assignment.items()})
        if not implausible:  # ends: each round excludes at least one more of the 20 primary numbers
            break
        excluded |= implausible
        suspects |= {r for r, c in assignment.items() if fdi_classes[c] in implausible}
    numbered = [
        Tooth(fdi=fdi_classes[c], box=_rounded(teeth[r].box), score=round(teeth[r].score, 4), source="model")
        for r, c in assignment.items()
    ]
    return sorted(numbered, key=lambda t: t.fdi)


def _assign(cost: NDArray[np.float64], columns: list[int], suspects: set[int]) -> dict[int, int]:
    """Row -> column of the cheapest assignment over ``columns``; a suspect row may stay unassigned instead."""
    forbidden = 1e12  # a row that gets it anyway had no column left: it is left out, like rows beyond the columns
    unassigned = np.full((len(cost), len(suspects)), forbidden)
    for k, row in enumerate(sorted(suspects)):
        unassigned[row, k] = -np.log(MIN_RENUMBER_PROBABILITY)
    rows, cols = linear_sum_assignment(np.hstack([cost[:, columns], unassigned]))
    return {int(r): columns[c] for r, c in zip(rows, cols, strict=True) if c < len(columns)}


def implausible_primary_teeth(teeth: Mapping[str, Box]) -> set[str]:
    """The primary numbers among ``teeth`` (FDI -> box) that do not fit the dentition around them.

    A primary number is plausible only where the dentition can really be mixed:

    * its box lies in its own arch (``_in_other_arch``: a "83" on an upper canine is a duplicate detection);
    * its permanent successor, where numbered, lies beneath it: overlapping it horizontally by at least
      :data:`MIN_SUCCESSOR_OVERLAP` and with its crown tip at least :data:`MIN_SUCCESSOR_DEPTH` primary-tooth
      heights beyond the primary tooth's occlusal edge, towards the root (an unerupted germ). An erupted
      successor beside it (a "65" next to 25, a "72" between 31 and 32) makes the dentition permanent there;
    * a scan's only primary number has its successor beneath it: a lone primary tooth with no successor at all
      is far more often a stray detection on an adult scan than a retained primary tooth.

    Why these rules, from the labelled data (Tufts: 968 scans, permanent and primary teeth; UFBA-425: 425 scans,
    no primary tooth labelled, its category-6 scans "more than 32 teeth" are mixed dentitions whose primary teeth
    went unlabelled). Primary teeth per Tufts scan: 0 in 886 scans, 1 in 10, 2 in 3, 3 in 3, and 4 to 20 in 66
    (4: 7, 5: 3, 6: 2, 7: 2, 8: 5, 9: 4, 10: 3, 11: 3, 12: 14, 13: 7, 14: 6, 15: 3, 16: 1, 17: 1, 18: 4, 20: 1).
    A count threshold ("fewer than K primary teeth is an adult") would break real dentitions: 16 of the 82 scans
    with primary teeth (20 %) have only 1-3 (late mixed dentitions, retained primary teeth); only the weakest
    form is kept, K = 2 for a primary tooth without its successor beneath it. "The permanent dentition is
    complete" cannot tell them apart either: a mixed dentition's permanent germs are labelled and detected too
    (28 or more of the 32 in 75 of the 82 scans). Where the successor lies does: of the 737 labelled primary
    teeth whose successor is labelled, 722 (98 %) have it beneath them by the test above, while only 3.9 % of
    20,602 pairs of neighbouring permanent teeth would pass it. On the labelled Tufts dentitions these rules
    flag 17 of the 746 primary teeth (2.3 %, in 13 of the 82 scans): 15 with their successor erupting beside
    them, and 2 lone retained 85s without a successor; the arch test flags none.
    """
    primary = [fdi for fdi in teeth if is_primary(fdi)]
    implausible = set()
    for fdi in primary:
        successor = teeth.get(permanent_successor(fdi))
        beneath = successor is not None and _beneath(teeth[fdi], successor, upper=fdi[0] in "56")
        needs_successor = successor is not None or len(primary) == 1
        if (needs_successor and not beneath) or _in_other_arch(fdi, teeth):
            implausible.add(fdi)
    return implausible


def _beneath(primary: Box, successor: Box, *, upper: bool) -> bool:
    """True when ``successor`` is an unerupted germ on the root side of ``primary`` (up for an upper tooth)."""
    overlap = min(primary[2], successor[2]) - max(primary[0], successor[0])
    narrower = min(primary[2] - primary[0], successor[2] - successor[0])
    height = max(primary[3] - primary[1], 1e-9)
    depth = (primary[3] - successor[3]) if upper else (successor[1] - primary[1])
    return overlap >= MIN_SUCCESSOR_OVERLAP * narrower and depth >= MIN_SUCCESSOR_DEPTH * height


def _in_other_arch(fdi: str, teeth: Mapping[str, Box]) -> bool:
    """True when the box of ``fdi`` overlaps (vertically) the other arch's nearest permanent teeth clearly more."""
    box = teeth[fdi]
    centre = (box[0] + box[2]) / 2
    height = max(box[3] - box[1], 1e-9)

    def arch_overlap(quadrants: str) -> float:
        nearest = sorted(
            (abs((b[0] + b[2]) / 2 - centre), b) for f, b in teeth.items() if f[0] in quadrants and f != fdi
        )[:ARCH_NEIGHBOURS]
        overlaps = [max(0.0, min(box[3], b[3]) - max(box[1], b[1])) / height for _, b in nearest]
        return float(np.mean(overlaps)) if overlaps else 0.0

    own, other = ("12", "34") if fdi[0] in "56" else ("34", "12")
    return arch_overlap(other) - arch_overlap(own) > ARCH_MARGIN


def tooth_under(box: tuple[float, float, float, float], teeth: list[Tooth]) -> str | None:
    """The FDI number of the tooth that holds most of ``box``, or None when it lies on no tooth."""
    best, best_overlap = None, MIN_OVERLAP_ON_TOOTH
    area = max((box[2] - box[0]) * (box[3] - box[1]), 1e-9)
    for tooth in teeth:
        if tooth.box is None:
            continue
        w = min(box[2], tooth.box[2]) - max(box[0], tooth.box[0])
        h = min(box[3], tooth.box[3]) - max(box[1], tooth.box[1])
        overlap = max(w, 0) * max(h, 0) / area
        if overlap > best_overlap:
            best, best_overlap = tooth.fdi, overlap
    return best


def missing_teeth(teeth: list[Tooth]) -> list[str]:
    """Permanent positions with no tooth seen, except those still held by a primary tooth.

    Whether "not seen" means missing (third molars, children not yet erupted) is the chart's decision.
    """
    present = {t.fdi for t in teeth}
    held = {_SUCCESSOR[f] for f in present if f in _SUCCESSOR}
    return [fdi for fdi in PERMANENT_TEETH if fdi not in present and fdi not in held]


def build_findings(objects: list[Detection], teeth: list[Tooth], on_teeth: Sequence[Finding] = ()) -> list[Finding]:
    """All findings of a scan, numbered ``f1``, ``f2``...: detected objects (each on the tooth it lies on), then
    the second stage's per-tooth findings ``on_teeth``, then missing teeth.

    Where the second stage reports a type on a tooth, a detected object of the same type on that tooth is
    the same finding seen twice and is dropped. An implant cannot decay: caries the second stage sees on a
    tooth position holding a detected implant (its crown, the bright screw) is dropped.
    """
    seen_on_teeth = {(f.type, f.tooth) for f in on_teeth}
    findings: list[Finding] = []
    implant_positions = set()
    for detection in sorted(objects, key=lambda d: (d.box[0], d.label)):
        tooth = tooth_under(detection.box, teeth)
        if detection.label == "implant" and tooth is not None:
            implant_positions.add(tooth)
        if (detection.label, tooth) in seen_on_teeth:
            continue
        findings.append(
            Finding(
                id="",
                type=detection.label,
                tooth=tooth,
                box=_rounded(detection.box),
                score=round(detection.score, 4),
                source="model",
            )
        )
    findings += sorted(
        (f for f in on_teeth if not (f.type in _DECAY and f.tooth in implant_positions)),
        key=lambda f: (f.tooth or "", f.type),
    )
    findings += [Finding(id="", type="missing", tooth=fdi, box=None, source="model") for fdi in missing_teeth(teeth)]
    return [replace(finding, id=f"f{number}") for number, finding in enumerate(findings, start=1)]


def looks_upside_down(upright: list[Detection], flipped: list[Detection]) -> bool:
    """True when the detector is clearly surer of the teeth in the vertically flipped image.

    The numbering follows image position, so an upside-down scan still gets a plausible-looking
    arrangement; but teeth look more like teeth to the model the right way up (on validation
    images, the upright mean tooth score beat the flipped one by about 0.04-0.07).
    """
    upright_scores = [d.score for d in upright if d.label == "tooth"]
    flipped_scores = [d.score for d in flipped if d.label == "tooth"]
    if len(flipped_scores) < MIN_TEETH_FOR_PANORAMIC:
        return False  # a few teeth give too noisy a mean to judge
    upright_mean = float(np.mean(upright_scores)) if upright_scores else 0.0
    return float(np.mean(flipped_scores)) > upright_mean + UPSIDE_DOWN_MARGIN


def assess_quality(pixels: NDArray[np.uint8], teeth: list[Tooth], *, upside_down: bool = False) -> Quality:
    """A verdict on whether the analysis can be trusted: a photo, a bitewing, a blank or upside-down scan must not
    pass as a normal panoramic. ``upside_down`` comes from :func:`looks_upside_down`."""
    warnings: list[QualityWarning] = []
    height, width = pixels.shape
    if not 1.4 <= width / height <= 3.2:
        warnings.append(
            QualityWarning(
                "unusual_proportions",
                f"the image is {width} x {height} pixels, not the wide format of a panoramic; "
                "check that this is a panoramic X-ray and not a bitewing, a periapical or a photo",
            )
        )
    low, high = np.percentile(pixels, [2, 98])
    if high - low < 40:
        warnings.append(
            QualityWarning("low_contrast", "the image has very low contrast; findings may be missed: check exposure")
        )
    if len(teeth) < MIN_TEETH_FOR_PANORAMIC:
        warnings.append(
            QualityWarning(
                "few_teeth",
                f"only {len(teeth)} teeth were found; if the patient has more teeth, this may not be a usable "
                "dental panoramic (or it is upside down or very blurred)",
            )
        )
    elif not _plausible_arrangement(teeth):
        warnings.append(
            QualityWarning(
                "implausible_arrangement",
                "tooth positions do not form a normal dental arch (upper teeth should be above lower, the patient's "
                "right on the image's left); the scan may be flipped or rotated: check and renumber",
            )
        )
    if upside_down:
        warnings.append(
            QualityWarning(
                "upside_down",
                "the scan looks upside down (the teeth are recognised better the other way up): the tooth numbers "
                "are then wrong; rotate or flip the image as the X-ray software exports it and analyse it again",
            )
        )
    if any(w.code == "few_teeth" for w in warnings) and len(teeth) < 3:
        verdict = "unusable"
    else:
        verdict = "doubtful" if warnings else "ok"
    return Quality(verdict=verdict, warnings=tuple(warnings))  # type: ignore[arg-type]


def _plausible_arrangement(teeth: list[Tooth]) -> bool:
    def centre(tooth: Tooth) -> tuple[float, float]:
        assert tooth.box is not None
        return (tooth.box[0] + tooth.box[2]) / 2, (tooth.box[1] + tooth.box[3]) / 2

    boxed = [t for t in teeth if t.box is not None]
    upper = [centre(t)[1] for t in boxed if t.fdi[0] in "1256"]
    lower = [centre(t)[1] for t in boxed if t.fdi[0] in "3478"]
    right = [centre(t)[0] for t in boxed if t.fdi[0] in "1458"]  # patient's right: image left
    left = [centre(t)[0] for t in boxed if t.fdi[0] in "2367"]
    if upper and lower and np.median(upper) > np.median(lower):
        return False
    return not (right and left and np.median(right) > np.median(left))


def _rounded(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    return (round(box[0], 1), round(box[1], 1), round(box[2], 1), round(box[3], 1))
