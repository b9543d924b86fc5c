"""The de-identified export: what a study's record holds, stable keys, and the ZIP's layout."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile

import numpy as np

from xrayreport.export import EXPORT_FORMAT, ExportOptions, ExportStudy, deidentified_record, pseudonym, write_export
from xrayreport.export.burnedin import pixels_withheld
from xrayreport.findings import Finding, Findings, ImageInfo, ModelInfo, Patient, Study, Tooth


def _study(note: str = "Mrs Smith says it hurts") -> ExportStudy:
    findings = Findings(
        image=ImageInfo(width=40, height=20, sha256="a" * 64, source="Smith_Jane_1980-01-02.dcm"),
        model=ModelInfo(name="detector-v1", version="1.2.0"),
        teeth=(Tooth(fdi="36", box=(1.0, 2.0, 10.04, 12.0)),),
        findings=(Finding(id="f1", type="caries", tooth="36", box=None, source="dentist", note=note),),
        patient=Patient(name="Jane Smith", id="PID-1", birth_date="1980-01-02", sex="F"),
        study=Study(date="2024-05-06", institution="Smile Clinic", modality="PX"),
    )
    return ExportStudy(
        study_key=pseudonym(b"k", "study", "abc"),
        patient_key=pseudonym(b"k", "patient", "7"),
        findings=findings,
        age_years=44,
        sex="F",
        pixels=lambda: np.full((20, 40), 128, np.uint8),
    )


def test_keys_are_stable_distinct_per_kind_and_depend_on_the_secret() -> None:
    assert pseudonym(b"k", "study", "7") == pseudonym(b"k", "study", "7")
    assert pseudonym(b"k", "study", "7") != pseudonym(b"k", "patient", "7")
    assert pseudonym(b"k", "study", "7") != pseudonym(b"other", "study", "7")
    assert len(pseudonym(b"k", "study", "7")) == 20


def test_a_record_holds_findings_but_no_identity_unless_asked() -> None:
    study = _study()
    record = deidentified_record(study, ExportOptions())
    assert record == {
        "format": EXPORT_FORMAT,
        "study": study.study_key,
        "patient": study.patient_key,
        "image": {"width": 40, "height": 20, "file": None},
        "model": {"name": "detector-v1", "version": "1.2.0"},
        "teeth": [{"fdi": "36", "box": [1.0, 2.0, 10.0, 12.0], "source": "model"}],
        "findings": [{"id": "f1", "type": "caries", "tooth": "36", "box": None, "source": "dentist"}],
    }
    asked = deidentified_record(study, ExportOptions(images=True, age=True, sex=True))
    assert asked["age_years"] == 44 and asked["sex"] == "F"
    assert asked["image"]["file"] == f"images/{study.study_key}.png"


def test_the_zip_holds_the_records_the_images_asked_for_and_a_manifest() -> None:
    out = io.BytesIO()
    assert write_export([_study()], ExportOptions(images=True), out) == 1
    archive = zipfile.ZipFile(out)
    key = _study().study_key
    assert archive.namelist() == [f"studies/{key}.json", f"images/{key}.png", "manifest.json"]
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["studies"] == 1 and manifest["asked_for"] == ["images"]
    everything = b"".join(archive.read(name) for name in archive.namelist())
    for identity in (b"Smith", b"PID-1", b"1980", b"2024-05-06", b"Smile", b"hurts", b"a" * 64):
        assert identity not in everything


def test_a_study_whose_pixels_are_withheld_keeps_its_findings_and_the_manifest_says_why() -> None:
    reason = pixels_withheld(None, checked=False)
    withheld = dataclasses.replace(_study(), pixels_withheld=reason)
    out = io.BytesIO()
    assert write_export([withheld], ExportOptions(images=True), out) == 1
    archive = zipfile.ZipFile(out)
    key = withheld.study_key
    assert archive.namelist() == [f"studies/{key}.json", "manifest.json"]
    assert json.loads(archive.read(f"studies/{key}.json"))["image"]["file"] is None
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["left_out"] == [{"study": key, "file": f"images/{key}.png", "reason": reason}]
    without_images = io.BytesIO()
    write_export([withheld], ExportOptions(), without_images)
    assert json.loads(zipfile.ZipFile(without_images).read("manifest.json"))["left_out"] == []  # nothing asked
