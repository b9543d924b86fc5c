"""The coded concepts of the results: SNOMED CT teeth (DICOM CID 4018 / 4019) and xrayreport's finding types."""

from __future__ import annotations

import pytest

from xrayreport.dentition import ALL_TEETH
from xrayreport.dicomnet.codes import FINDING_MEANINGS, SCHEME, TOOTH_CODES, finding_code, tooth_code
from xrayreport.errors import UnknownNameError
from xrayreport.findings import FINDING_TYPES


@pytest.mark.parametrize(
    ("fdi", "code", "meaning"),
    [
        ("18", "68085002", "Permanent maxillary right third molar tooth"),
        ("11", "422653006", "Permanent maxillary right central incisor tooth"),
        ("21", "424399000", "Permanent maxillary left central incisor tooth"),
        ("32", "423331005", "Mandibular left lateral tooth"),  # PS3.16's meaning for the lateral incisor
        ("36", "866006002", "Mandibular left first molar tooth"),
        ("48", "38994002", "Mandibular right third molar tooth"),
        ("55", "27855007", "Deciduous maxillary right second molar tooth"),
        ("85", "61868007", "Deciduous mandibular right second molar tooth"),
    ],
)
def test_fdi_numbers_map_to_dicoms_snomed_tooth_concepts(fdi: str, code: str, meaning: str) -> None:
    concept = tooth_code(fdi)
    assert (concept.value, concept.scheme_designator, concept.meaning) == (code, "SCT", meaning)


def test_every_tooth_has_its_own_concept_on_the_right_side() -> None:
    assert len({c.value for c in TOOTH_CODES.values()}) == len(ALL_TEETH) == 52
    for fdi, concept in TOOTH_CODES.items():
        meaning = concept.meaning.lower()
        assert ("maxillary" in meaning) == (fdi[0] in "1256"), fdi
        assert ("right" in meaning) == (fdi[0] in "1458"), fdi
        assert ("deciduous" in meaning) == (fdi[0] in "5678"), fdi


def test_an_unknown_tooth_number_is_named() -> None:
    with pytest.raises(UnknownNameError, match="19"):
        tooth_code("19")


def test_every_finding_type_has_a_code_of_the_private_scheme() -> None:
    assert set(FINDING_MEANINGS) == set(FINDING_TYPES)
    caries = finding_code("caries")
    assert (caries.value, caries.scheme_designator, caries.meaning) == ("caries", SCHEME, "Dental caries")
    assert SCHEME.startswith("99")  # PS3.16 section 8: private coding schemes start with 99
