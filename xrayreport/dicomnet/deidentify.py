"""De-identified copies of DICOM objects for research: the Basic Application Level Confidentiality Profile of DICOM
PS3.15 Annex E, with the Clean Structured Content Option for xrayreport's own structured reports.

Which attribute gets which action is the standard's Table E.1-1 (its "Basic Prof." column) as data: the copy that
the ``dicom-anonymizer`` package ships, generated from PS3.15 2026c (:data:`PROFILE_TABLE`). That package's own
functions are not used (they map UIDs at random through a process-wide table, empty the UIDs nested in reference
sequences instead of mapping them, and ignore Burned In Annotation); :class:`Deidentifier` applies the table's
actions itself, to every attribute wherever it is nested:

- ``X`` removes the attribute; ``Z`` and ``X/Z`` leave it empty (a sequence without items); ``D``, ``Z/D``, ``X/D``
  and ``X/Z/D`` put a dummy value of its VR in its place (:func:`dummy_value`), a sequence keeping its items with
  a dummy in every attribute, so that type 1 attributes stay present; ``U`` and the UIDs of ``X/Z/U*`` sequences
  are mapped (:meth:`Deidentifier.uid`);
- private attributes are removed; attributes the table does not list are kept (sequences are walked);
- the Content Sequence of a structured report is kept when cleaning structured content: the table's actions apply
  inside it (person names become dummies, UIDs are mapped) and a TEXT item keeps its text only when its concept is
  one xrayreport's SR writes without identity (:data:`CLEAN_TEXT_CONCEPTS`); any other text becomes a dummy;
- the Patient ID becomes the caller's pseudonym (a keyed hash, so a patient's objects stay together), the name is
  left empty; Patient Identity Removed, the De-identification Method (code 113100, and 113104 when structured
  content was cleaned) and Longitudinal Temporal Information Modified (``REMOVED``) say what was done.

Pixel data are not cleaned: an object with pixels is refused (:class:`BurnedInAnnotationError`) unless its Burned In
Annotation (0028,0301) is ``NO``, since a panoramic unit may print the patient's name or the date into the image, or
a person has looked at the pixels and found no such text (``pixels_checked``; the copy then says ``NO``): the rule of
every export, :func:`xrayreport.export.burnedin.pixels_withheld`.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.sr.codedict import codes
from pydicom.tag import BaseTag, Tag
from pydicom.uid import UID

from ..errors import XrayReportError
from ..export.burnedin import pixels_withheld

PROFILE_TABLE = "dicomfields_2026c"
"""The version of PS3.15 Table E.1-1 used: dicom-anonymizer's module of that name."""
DEIDENTIFICATION_METHOD = "DICOM PS3.15 E.1 Basic Profile (2026c table) by xrayreport"

_CATEGORY_ACTIONS = {
    "D_TAGS": "D",
    "Z_TAGS": "Z",
    "X_TAGS": "X",
    "U_TAGS": "U",
    "Z_D_TAGS": "Z/D",
    "X_Z_TAGS": "X/Z",
    "X_D_TAGS": "X/D",
    "X_Z_D_TAGS": "X/Z/D",
    "X_Z_U_STAR_TAGS": "X/Z/U*",
}
"""The table's groups (dicom-anonymizer's names) and the action codes of PS3.15 Table E.1-1a they stand for."""
_EMPTY = frozenset({"Z", "X/Z"})
_DUMMY = frozenset({"D", "Z/D", "X/D", "X/Z/D"})

CONTENT_SEQUENCE = Tag(0x0040, 0xA730)
CLEAN_TEXT_CONCEPTS = frozenset({("DCM", "112039"), ("DCM", "121013"), ("DCM", "121014"), ("DCM", "121015")})
"""TEXT content items whose text a cleaned SR keeps: Tracking Identifier (xrayreport's "finding f3"), Device Observer
Name, Manufacturer and Model Name (the model, ``xrayreport``). xrayreport's SR writes no other text but the reviewer's
login name, which becomes a dummy like any text of another concept."""

_TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT"})
_NUMBER_VRS = frozenset({"US", "SS", "UL", "SL", "UV", "SV", "FL", "FD"})
_BYTES_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
_DUMMIES: dict[str, Any] = {
    "DA": "19000101",
    "TM": "000000",
    "DT": "19000101000000",
    "AS": "000Y",
    "DS": "0",
    "IS": "0",
    "UR": "https://anonymized.invalid",
}
_DUMMY_TEXT = "ANONYMIZED"


class BurnedInAnnotationError(XrayReportError):
    """An image may show identifying text in its pixels: it cannot be de-identified by its attributes alone."""


@dataclass(frozen=True)
class ProfileTable:
    """Table E.1-1's basic profile: action code per tag, and per masked tag range (group, element, masks)."""

    actions: dict[BaseTag, str]
    ranges: tuple[tuple[int, int, int, int, str], ...]

    def action(self, tag: BaseTag) -> str | None:
        """The action code for ``tag`` (``None``: the table does not list it)."""
        found = self.actions.get(tag)
        if found is not None:
            return found
        for group, element, group_mask, element_mask, code in self.ranges:
            if tag.group & group_mask == group and tag.element & element_mask == element:
                return code
        return None


@cache
def profile_table() -> ProfileTable:
    """PS3.15 Table E.1-1's basic profile as shipped by dicom-anonymizer (the ``[dicom]`` extra)."""
    from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector

    groups = dicom_anonymization_database_selector(PROFILE_TABLE)
    actions: dict[BaseTag, str] = {}
    ranges: list[tuple[int, int, int, int, str]] = []
    for category, code in _CATEGORY_ACTIONS.items():
        for entry in groups[category]:
            if len(entry) == 4:
                ranges.append((entry[0], entry[1], entry[2], entry[3], code))
            else:
                actions[Tag(entry[0], entry[1])] = code
    return ProfileTable(actions, tuple(ranges))


def dummy_value(vr: str) -> Any:
    """A value of ``vr`` that says nothing (PS3.15 action D): ``ANONYMIZED`` for text and names, 1900-01-01 at
    midnight for dates and times, 0 for numbers, two zero bytes for binary values."""
    if vr in _TEXT_VRS:
        return _DUMMY_TEXT
    if vr in _NUMBER_VRS:
        return 0
    if vr in _BYTES_VRS:
        return b"\x00\x00"
    return _DUMMIES.get(vr, "")


def _empty_value(vr: str) -> Any:
    if vr == "SQ":
        return Sequence()
    return b"" if vr in _BYTES_VRS else None


class Deidentifier:
    """De-identifies objects with one UID mapping: the same original UID becomes the same new UID in every object
    (references between them still hold) and in every export made with the same ``secret``."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._table = profile_table()

    def uid(self, original: str) -> UID:
        """The UID that replaces ``original``: ``2.25.`` and the first 128 bits of its HMAC-SHA256 under the secret
        as a decimal (PS3.5 B.2; at most 44 characters). UIDs the standard defines (SOP classes, transfer syntaxes,
        coding schemes) are kept."""
        uid = UID(original)
        if uid.name != uid:  # a UID in pydicom's dictionary of the standard's UIDs
            return uid
        digest = hmac.new(self._secret, b"uid\0" + original.encode(), hashlib.sha256).digest()
        return UID(f"2.25.{int.from_bytes(digest[:16], 'big')}")

    def deidentify(
        self, ds: Dataset, patient_key: str, clean_structured_content: bool = False, pixels_checked: bool = False
    ) -> Dataset:
        """A de-identified copy of ``ds`` whose Patient ID is ``patient_key``. ``clean_structured_content`` keeps an
        SR's content tree, cleaned (only for the SRs xrayreport writes: see :data:`CLEAN_TEXT_CONCEPTS`).
        ``pixels_checked``: a person has looked at the pixels and found no burned-in text, so the copy is made
        whatever ``ds`` says and its Burned In Annotation is ``NO``.

        Raises :class:`BurnedInAnnotationError` for pixel data whose Burned In Annotation is not ``NO`` unless
        ``pixels_checked``."""
        if "PixelData" in ds:
            withheld = pixels_withheld(str(ds.get("BurnedInAnnotation") or ""), pixels_checked)
            if withheld is not None:
                raise BurnedInAnnotationError(withheld)
        out = copy.deepcopy(ds)
        self._clean(out, clean_structured_content)
        out.PatientName = ""
        out.PatientID = patient_key
        out.PatientIdentityRemoved = "YES"
        out.DeidentificationMethod = DEIDENTIFICATION_METHOD
        methods = [codes.DCM.BasicApplicationConfidentialityProfile]
        if clean_structured_content and CONTENT_SEQUENCE in ds:
            methods.append(codes.DCM.CleanStructuredContentOption)
        out.DeidentificationMethodCodeSequence = [_code_item(c.value, c.scheme_designator, c.meaning) for c in methods]
        out.LongitudinalTemporalInformationModified = "REMOVED"
        if "PixelData" in ds and pixels_checked:
            out.BurnedInAnnotation = "NO"
        if hasattr(ds, "file_meta"):
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = out.SOPClassUID
            meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
            meta.TransferSyntaxUID = ds.file_meta.TransferSyntaxUID
            out.file_meta = meta
        return out

    def _clean(self, ds: Dataset, keep_content: bool) -> None:
        for element in list(ds):
            tag = element.tag
            if tag.is_private:
                del ds[tag]
                continue
            action = self._table.action(tag)
            if tag == CONTENT_SEQUENCE and keep_content:
                for item in element.value:
                    self._clean(item, keep_content)
                    self._clean_text(item)
            elif action == "X":
                del ds[tag]
            elif action in _EMPTY:
                element.value = _empty_value(element.VR)
            elif action in _DUMMY:
                self._dummy(element)
            elif element.VR == "UI" and action == "U":
                element.value = self._mapped(element)
            elif element.VR == "SQ":  # not listed, or X/Z/U*: the attributes inside get their own actions
                for item in element.value:
                    self._clean(item, keep_content)

    def _dummy(self, element: DataElement) -> None:
        if element.VR == "SQ":
            for item in element.value:
                for inner in list(item):
                    if inner.tag.is_private:
                        del item[inner.tag]
                    else:
                        self._dummy(inner)
        elif element.VR == "UI":
            element.value = self._mapped(element)
        elif not element.is_empty:
            element.value = dummy_value(element.VR)

    def _mapped(self, element: DataElement) -> Any:
        if element.VM > 1:
            return [self.uid(str(v)) for v in element.value]
        return self.uid(str(element.value)) if element.value else element.value

    def _clean_text(self, item: Dataset) -> None:
        if item.get("ValueType") != "TEXT" or "TextValue" not in item:
            return
        names = item.get("ConceptNameCodeSequence") or [Dataset()]
        concept = (str(names[0].get("CodingSchemeDesignator", "")), str(names[0].get("CodeValue", "")))
        if concept not in CLEAN_TEXT_CONCEPTS:
            item.TextValue = _DUMMY_TEXT


def _code_item(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item
