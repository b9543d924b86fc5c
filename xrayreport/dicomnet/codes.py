"""Coded concepts for results sent back as DICOM (and FHIR): teeth, finding types, where a finding came from.

Teeth are SNOMED CT concepts, those of DICOM's CID 4018 "Permanent Dentition - Designation of Teeth" and CID 4019
"Deciduous Dentition - Designation of Teeth" (PS3.16), which CID 4026 lists for intra-oral and craniofacial
radiography: one concept per ISO 3950 (FDI) tooth number, 32 permanent and 20 primary. They are read from
pydicom's copy of PS3.16, so the codes are DICOM's own; FHIR uses the same codes (system ``http://snomed.info/sct``).

Finding types (caries, filling, implant...) have no concept in DICOM's tables, and their SNOMED CT codes cannot be
checked against a terminology here, so they are codes of this application's own scheme, :data:`SCHEME` (``99``
starts a private coding scheme designator, PS3.16 section 8), declared in each SR's Coding Scheme Identification
Sequence; each carries its readable meaning.
"""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from ..dentition import ALL_TEETH, check_fdi

SCHEME = "99XRAYREPORT"
"""The private coding scheme designator of xrayreport's own codes."""
SCHEME_NAME = "xrayreport dental findings"
FHIR_FINDING_SYSTEM = "urn:xrayreport:finding-type"
"""The FHIR code system URI of the same codes."""
SNOMED_FHIR_SYSTEM = "http://snomed.info/sct"

_POSITIONS_PERMANENT = (
    "CentralIncisor",
    "LateralIncisor",
    "Canine",
    "FirstPremolar",
    "SecondPremolar",
    "FirstMolar",
    "SecondMolar",
    "ThirdMolar",
)
_POSITIONS_PRIMARY = ("CentralIncisor", "LateralIncisor", "Canine", "FirstMolar", "SecondMolar")
# FDI quadrant -> the start of pydicom's keyword for its teeth (PS3.16 names permanent mandibular teeth without
# "Permanent"; quadrant 1 is the patient's upper right).
_QUADRANTS = {
    "1": "PermanentMaxillaryRight",
    "2": "PermanentMaxillaryLeft",
    "3": "MandibularLeft",
    "4": "MandibularRight",
    "5": "DeciduousMaxillaryRight",
    "6": "DeciduousMaxillaryLeft",
    "7": "DeciduousMandibularLeft",
    "8": "DeciduousMandibularRight",
}
_KEYWORD_EXCEPTIONS = {"32": "MandibularLeftLateralTooth"}  # PS3.16's keyword for SCT 423331005


def _tooth_keyword(fdi: str) -> str:
    positions = _POSITIONS_PERMANENT if fdi[0] in "1234" else _POSITIONS_PRIMARY
    return _KEYWORD_EXCEPTIONS.get(fdi, f"{_QUADRANTS[fdi[0]]}{positions[int(fdi[1]) - 1]}Tooth")


TOOTH_CODES: dict[str, Code] = {fdi: getattr(codes.SCT, _tooth_keyword(fdi)) for fdi in ALL_TEETH}
"""FDI tooth number -> its SNOMED CT concept (DICOM CID 4018 / 4019)."""


def tooth_code(fdi: str) -> Code:
    """The SNOMED CT concept of FDI tooth ``fdi`` (e.g. ``36`` -> 866006002 "Mandibular left first molar tooth");
    an unknown number raises :class:`~xrayreport.errors.UnknownNameError`."""
    return TOOTH_CODES[check_fdi(fdi)]


FINDING_MEANINGS: dict[str, str] = {
    "caries": "Dental caries",
    "deep_caries": "Deep dental caries",
    "periapical_lesion": "Periapical lesion",
    "impacted": "Impacted tooth",
    "residual_root": "Retained dental root",
    "fracture": "Fracture of tooth",
    "restoration": "Dental restoration",
    "filling": "Dental filling",
    "crown": "Dental crown",
    "root_canal": "Root canal filling",
    "implant": "Dental implant",
    "bridge": "Dental bridge",
    "missing": "Missing tooth",
}
"""Each finding type's meaning, as the codes carry it (one per type of the findings schema)."""


def finding_code(finding_type: str) -> Code:
    """The private code of a finding type: the type itself as the code value, e.g. ``caries`` "Dental caries"."""
    return Code(finding_type, SCHEME, FINDING_MEANINGS[finding_type])


FINDING_SOURCE = Code("finding-source", SCHEME, "Finding source")
"""The concept name of the qualitative evaluation that says who found a finding and who confirmed it."""
FOUND_BY_MODEL = Code("model-confirmed", SCHEME, "Found by the model, confirmed by the reviewing dentist")
ADDED_BY_DENTIST = Code("dentist", SCHEME, "Marked by the reviewing dentist")


def coding_scheme_item() -> Dataset:
    """The item of a Coding Scheme Identification Sequence (0008,0110) that declares :data:`SCHEME`."""
    item = Dataset()
    item.CodingSchemeDesignator = SCHEME
    item.CodingSchemeName = SCHEME_NAME
    item.CodingSchemeResponsibleOrganization = "xrayreport"
    return item
