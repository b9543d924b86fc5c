"""The findings contract: round trips, the documented example, and errors that name the field."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from xrayreport.errors import FindingsError
from xrayreport.findings import (
    FINDING_TYPES,
    SCHEMA_ID,
    Finding,
    Findings,
    ImageInfo,
    ModelInfo,
    StageInfo,
    Tooth,
    findings_from_dict,
    findings_schema,
    load_findings,
    save_findings,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "findings.md"


def documented_example() -> dict[str, Any]:
    """The example document in docs/findings.md, so the documentation cannot drift from the code."""
    block = re.search(r"```json\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)
    assert block, "docs/findings.md has no JSON example"
    data: dict[str, Any] = json.loads(block.group(1))
    return data


def minimal() -> dict[str, Any]:
    return {
        "schema": SCHEMA_ID,
        "image": {"width": 2000, "height": 1000, "sha256": "0" * 64},
        "model": {"name": "dentist", "version": "manual"},
        "teeth": [],
        "findings": [
            {"id": f"f{i}", "type": "caries", "tooth": "36", "box": [10, 20, 30, 40], "source": "model"}
            for i in range(1, 4)
        ],
    }


def test_the_second_stage_is_recorded_and_round_trips() -> None:
    model = {"name": "detector-v1", "version": "1.2.0", "second_stage": {"name": "t", "version": "1"}}
    data = {**minimal(), "model": model}
    findings = findings_from_dict(data)
    assert findings.model.second_stage == StageInfo("t", "1")
    assert findings.to_dict()["model"] == model
    assert "second_stage" not in findings_from_dict(minimal()).to_dict()["model"]
    bad = {**data, "model": {**data["model"], "second_stage": {"name": "t"}}}
    with pytest.raises(FindingsError, match=r"model\.second_stage"):
        findings_from_dict(bad)


def test_the_documented_example_is_valid_and_round_trips() -> None:
    data = documented_example()
    findings = findings_from_dict(data)
    assert findings.to_dict() == data
    assert findings.findings[3] == Finding(
        id="f4",
        type="periapical_lesion",
        tooth=None,
        box=(1330.0, 800.0, 1390.0, 860.0),
        source="dentist",
        note="between 36 and 37, review in 3 months",
    )
    assert findings.image.pixel_spacing_mm == (0.1, 0.1)
    assert findings.patient is not None and findings.patient.sex == "F"


def test_documented_finding_types_are_the_schemas() -> None:
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("## Finding types") : text.index("## Validation")]
    documented = re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE)
    assert documented == list(FINDING_TYPES)


def test_documented_fields_cover_the_schema() -> None:
    text = DOCS.read_text(encoding="utf-8")
    schema = findings_schema()
    for section in ("image", "model", "patient", "study", "review"):
        for name in schema["properties"][section]["properties"]:
            assert f"`{section}.{name}`" in text, f"{section}.{name} is not documented"
    for section in ("teeth", "findings"):
        for name in schema["properties"][section]["items"]["properties"]:
            assert f"`{section}[].{name}`" in text, f"{section}[].{name} is not documented"


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    findings = findings_from_dict(documented_example())
    path = tmp_path / "scan.findings.json"
    save_findings(findings, path)
    assert load_findings(path) == findings
    assert path.read_text(encoding="utf-8").endswith("}\n")
    assert [p.name for p in tmp_path.iterdir()] == ["scan.findings.json"]  # no temporary file left


def test_built_in_python_documents_serialise_without_optional_sections() -> None:
    findings = Findings(
        image=ImageInfo(width=800, height=400, sha256="a" * 64),
        model=ModelInfo(name="m", version="1"),
        teeth=(Tooth(fdi="11", box=(1.5, 2.0, 30.0, 60.0), score=0.5),),
        findings=(Finding(id="a", type="missing", tooth="18", box=None),),
    )
    data = findings.to_dict()
    assert set(data) == {"schema", "image", "model", "teeth", "findings"}
    assert data["teeth"][0]["box"] == [1.5, 2.0, 30.0, 60.0]  # JSON lists, not tuples
    assert findings_from_dict(json.loads(findings.to_json())) == findings


def test_documents_are_frozen() -> None:
    findings = findings_from_dict(minimal())
    with pytest.raises(dataclasses.FrozenInstanceError):
        findings.findings[0].type = "filling"  # type: ignore[misc]


def test_tooth_and_box_may_be_null_but_must_be_present() -> None:
    data = minimal()
    data["findings"][0].update(tooth=None, box=None)
    assert findings_from_dict(data).findings[0].tooth is None
    del data["findings"][0]["box"]
    with pytest.raises(FindingsError, match=r"field findings\[0\]\.box: missing"):
        findings_from_dict(data)


Mutation = Callable[[dict[str, Any]], object]

INVALID: list[tuple[str, Mutation, str]] = [
    ("unknown type", lambda d: d["findings"][2].update(type="cavity"), r"findings\[2\]\.type: 'cavity' is not one of"),
    ("bad tooth", lambda d: d["findings"][1].update(tooth="19"), r"findings\[1\]\.tooth: '19' does not match .*FDI"),
    ("bad source", lambda d: d["findings"][0].update(source="robot"), r"findings\[0\]\.source: 'robot'"),
    ("score above 1", lambda d: d["findings"][0].update(score=1.5), r"findings\[0\]\.score: 1\.5"),
    ("short box", lambda d: d["findings"][0].update(box=[1, 2, 3]), r"findings\[0\]\.box: \[1, 2, 3\] is too short"),
    ("negative box", lambda d: d["findings"][0].update(box=[-1, 2, 3, 4]), r"findings\[0\]\.box\[0\]: -1"),
    ("missing id", lambda d: d["findings"][1].pop("id"), r"field findings\[1\]\.id: missing"),
    ("unknown field", lambda d: d["findings"][1].update(colour="red"), r"field findings\[1\]\.colour: not part of"),
    ("no teeth", lambda d: d.pop("teeth"), r"field teeth: missing"),
    ("zero width", lambda d: d["image"].update(width=0), r"field image\.width: 0 is less than"),
    ("bad hash", lambda d: d["image"].update(sha256="xyz"), r"field image\.sha256: 'xyz'"),
    ("bad sex", lambda d: d.update(patient={"sex": "female"}), r"field patient\.sex"),
    ("no 13th month", lambda d: d.update(patient={"birth_date": "1980-13-01"}), r"patient\.birth_date: .*calendar"),
    ("bad study date", lambda d: d.update(study={"date": "2024-02-30"}), r"field study\.date: '2024-02-30'"),
    ("bad review time", lambda d: d.update(review={"reviewed_at": "yesterday"}), r"review\.reviewed_at: 'yesterday'"),
    ("bad verdict", lambda d: d.update(quality={"verdict": "great", "warnings": []}), r"field quality\.verdict"),
    ("foreign schema", lambda d: d.update(schema="other/1"), r"field schema: 'xrayreport\.findings/1' was expected"),
    ("NaN score", lambda d: d["findings"][0].update(score=float("nan")), r"findings\[0\]\.score: nan is not a number"),
    ("NaN box", lambda d: d["findings"][2].update(box=[1, 2, 3, float("nan")]), r"findings\[2\]\.box\[3\]: nan"),
    (
        "infinite spacing",
        lambda d: d["image"].update(pixel_spacing_mm=[0.1, float("inf")]),
        r"image\.pixel_spacing_mm\[1\]: inf is not a number",
    ),
    ("NaN age", lambda d: d.update(patient={"age_years": float("nan")}), r"field patient\.age_years: nan"),
    (
        "too many findings",
        lambda d: d.update(findings=[{**d["findings"][0], "id": f"f{i}"} for i in range(1001)]),
        r"field findings: 1001 entries, more than the 1000 a document may hold",
    ),
    (
        "long note",
        lambda d: d["findings"][1].update(note="x" * 2001),
        r"findings\[1\]\.note: 2001 characters, more than the 2000 allowed",
    ),
    ("long id", lambda d: d["findings"][1].update(id="f" * 65), r"findings\[1\]\.id: 65 characters"),
]


@pytest.mark.parametrize(("mutate", "names"), [(m, n) for _, m, n in INVALID], ids=[i for i, _, _ in INVALID])
def test_invalid_documents_name_the_field(mutate: Mutation, names: str) -> None:
    data = minimal()
    mutate(data)
    with pytest.raises(FindingsError, match=names) as caught:
        findings_from_dict(data)
    assert str(caught.value).startswith("invalid findings document: field ")


def test_a_whole_document_of_the_wrong_shape() -> None:
    with pytest.raises(FindingsError, match=r"field \(document\): \[\] is not of type 'object'"):
        findings_from_dict([])


def test_another_major_version_is_named() -> None:
    data = minimal()
    data["schema"] = "xrayreport.findings/2"
    with pytest.raises(FindingsError, match=r"is xrayreport\.findings/2, and this xrayreport reads .*findings/1"):
        findings_from_dict(data)


@pytest.mark.parametrize(
    ("box", "problem"),
    [
        ([10, 20, 2001, 40], "lies outside the 2000x1000 image"),
        ([10, 20, 30, 1000.5], "lies outside the 2000x1000 image"),
        ([30, 20, 10, 40], "is empty or reversed"),
        ([10, 40, 30, 40], "is empty or reversed"),
    ],
)
def test_boxes_must_lie_inside_the_image(box: list[float], problem: str) -> None:
    data = minimal()
    data["findings"][1]["box"] = box
    with pytest.raises(FindingsError, match=rf"field findings\[1\]\.box: .*{problem}"):
        findings_from_dict(data)


def test_a_box_touching_the_image_edge_is_inside() -> None:
    data = minimal()
    data["findings"][1]["box"] = [0, 0, 2000, 1000]
    assert findings_from_dict(data).findings[1].box == (0.0, 0.0, 2000.0, 1000.0)


def test_teeth_boxes_are_checked_too() -> None:
    data = minimal()
    data["teeth"] = [{"fdi": "11", "box": [0, 0, 10, 10]}, {"fdi": "21", "box": [0, 0, 10, 1200]}]
    with pytest.raises(FindingsError, match=r"field teeth\[1\]\.box: .*outside"):
        findings_from_dict(data)


def test_duplicate_finding_ids_are_rejected() -> None:
    data = minimal()
    data["findings"][2]["id"] = "f1"
    with pytest.raises(FindingsError, match=r"field findings\[2\]\.id: 'f1' is used twice"):
        findings_from_dict(data)


def test_a_tooth_is_listed_once() -> None:
    data = minimal()
    data["teeth"] = [{"fdi": "11", "box": None}, {"fdi": "21", "box": None}, {"fdi": "11", "box": None}]
    with pytest.raises(FindingsError, match=r"field teeth\[2\]\.fdi: '11' is used twice"):
        findings_from_dict(data)


def test_save_refuses_an_invalid_document_and_writes_nothing(tmp_path: Path) -> None:
    findings = findings_from_dict(minimal())
    broken = dataclasses.replace(
        findings, findings=(*findings.findings, dataclasses.replace(findings.findings[0], box=(0, 0, 5000, 10)))
    )
    with pytest.raises(FindingsError, match=r"findings\[3\]\.box"):
        save_findings(broken, tmp_path / "out.json")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "no such findings file"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe\x00binary", "not a text file"),
        ("folder", "is a folder"),
    ],
)
def test_load_findings_reports_unreadable_files(tmp_path: Path, content: bytes | str | None, says: str) -> None:
    path = tmp_path / "scan.findings.json"
    if content == "folder":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(FindingsError, match=says) as caught:
        load_findings(path)
    assert str(caught.value).startswith(str(path))


def test_load_findings_names_the_file_and_the_field(tmp_path: Path) -> None:
    data = copy.deepcopy(minimal())
    data["findings"][2]["type"] = "cavity"
    path = tmp_path / "scan.findings.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(
        FindingsError, match=rf"^{re.escape(str(path))}: invalid findings document: field findings\[2\]"
    ):
        load_findings(path)
