"""The one rule on a scan's pixels in every export that leaves the clinic's server (docs/exports.md): a panoramic
unit may type the patient's name, birth date or the clinic into the image itself, and nothing in xrayreport removes
such text, so a scan's pixels (and any image drawn on them) go out only when its DICOM header says Burned In
Annotation (0028,0301) ``NO`` or a dentist has looked at them and marked the scan checked free of burned-in text.
The de-identified DICOM objects, the research ZIP's PNGs and the training export all ask :func:`pixels_withheld`."""

from __future__ import annotations


def pixels_withheld(annotation: str | None, checked: bool) -> str | None:
    """Why an image's pixels stay out of an export, or ``None`` when they may go.

    ``annotation`` is the image's Burned In Annotation (0028,0301) as its DICOM header holds it (``YES``, ``NO``,
    in any case; ``""`` when the header lacks it), or ``None`` for a scan uploaded as an image file (PNG, JPEG,
    TIFF), which has no DICOM header to say; ``checked``: a dentist marked the scan checked free of burned-in text.
    The reason names no patient or study, so it may go into an export's manifest as it is."""
    if checked:
        return None
    if annotation is None:
        said = "unknown (the scan came as an image file, without a DICOM header)"
    else:
        value = annotation.strip().upper()
        if value == "NO":
            return None
        said = "YES" if value == "YES" else "missing"
    return (
        f"this image's Burned In Annotation (0028,0301) is {said}: its pixels may show the patient's name or the "
        "date, which de-identification cannot remove; it is left out (a dentist who has looked can mark the scan "
        "checked free of burned-in text on its study page)"
    )
