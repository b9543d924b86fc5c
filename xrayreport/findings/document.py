"""The findings contract: what analysis found on one scan, as a typed, versioned document.

Analysis writes it, dentists correct it, and chart, plan and report read it and nothing else from
analysis. On disk it is JSON that validates against ``findings.schema.json`` (shipped beside this
module); :func:`findings_from_dict` checks a document against the schema and then against the rules
a schema cannot express (boxes inside the image, unique ids), naming the offending field.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import jsonschema

from ..atomic_write import write_text_atomically
from ..errors import FindingsError

SCHEMA_ID = "xrayreport.findings/1"

Box = tuple[float, float, float, float]
"""[x1, y1, x2, y2] in pixels of the original image; x grows to the right, y down."""

Source = Literal["model", "dentist"]


@cache
def findings_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of findings documents."""
    text = resources.files(__package__).joinpath("findings.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _finding_types() -> tuple[str, ...]:
    return tuple(findings_schema()["properties"]["findings"]["items"]["properties"]["type"]["enum"])


FINDING_TYPES: tuple[str, ...] = _finding_types()
"""Every finding type the contract knows, e.g. ``caries``, ``filling``, ``missing``."""


@dataclass(frozen=True)
class ImageInfo:
    """Which scan a findings document belongs to."""

    width: int
    height: int
    sha256: str
    source: str | None = None
    pixel_spacing_mm: tuple[float, float] | None = None


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str


@dataclass(frozen=True)
class Patient:
    """Identity fields; each is optional and only present when the user or the DICOM gave it."""

    name: str | None = None
    id: str | None = None
    birth_date: str | None = None  # ISO 8601 date, YYYY-MM-DD
    sex: Literal["F", "M", "O"] | None = None
    age_years: float | None = None


@dataclass(frozen=True)
class Study:
    date: str | None = None  # ISO 8601 date, YYYY-MM-DD
    institution: str | None = None
    modality: str | None = None


@dataclass(frozen=True)
class QualityWarning:
    code: str
    message: str


@dataclass(frozen=True)
class Quality:
    """Whether the scan looked like a usable panoramic to the analysis (``ok``/``doubtful``/``unusable``)."""

    verdict: Literal["ok", "doubtful", "unusable"]
    warnings: tuple[QualityWarning, ...] = ()


@dataclass(frozen=True)
class Review:
    reviewed_by: str | None = None
    reviewed_at: str | None = None  # ISO 8601 date-time


@dataclass(frozen=True)
class Tooth:
    """A tooth seen on the scan, with its FDI number; ``score`` is the model's confidence in [0, 1]."""

    fdi: str
    box: Box | None
    score: float | None = None
    source: Source = "model"


@dataclass(frozen=True)
class Finding:
    """One observation: a problem (caries, lesion), an existing treatment (filling, implant) or a gap (missing)."""

    id: str
    type: str
    tooth: str | None
    box: Box | None
    source: Source = "model"
    score: float | None = None
    note: str | None = None


@dataclass(frozen=True)
class Findings:
    """A whole findings document (schema ``xrayreport.findings/1``)."""

    image: ImageInfo
    model: ModelInfo
    teeth: tuple[Tooth, ...] = ()
    findings: tuple[Finding, ...] = ()
    patient: Patient | None = None
    study: Study | None = None
    quality: Quality | None = None
    review: Review | None = None
    schema: str = field(default=SCHEMA_ID)

    def to_dict(self) -> dict[str, Any]:
        """The document as plain JSON-ready data; optional sections that are absent are left out."""
        data = asdict(self)
        out: dict[str, Any] = {"schema": data.pop("schema")}
        for key, value in data.items():
            if value is not None:
                out[key] = _lists(value)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"


def _lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    return value


def _field_path(error: jsonschema.ValidationError) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return path.lstrip(".") or "(document)"


def validate_findings_dict(data: Any) -> None:
    """Raise :class:`FindingsError` naming the first invalid field of a findings document."""
    validator = jsonschema.Draft202012Validator(findings_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        worst = jsonschema.exceptions.best_match(errors)
        assert worst is not None
        raise FindingsError(
            f"invalid findings document: field {_field_path(worst)}: {worst.message}. "
            f"Fix the field to match the schema {SCHEMA_ID} (see docs/findings.md)."
        )
    width, height = data["image"]["width"], data["image"]["height"]
    for section in ("teeth", "findings"):
        for index, item in enumerate(data[section]):
            box = item.get("box")
            if box is None:
                continue
            x1, y1, x2, y2 = box
            if not (x1 < x2 and y1 < y2):
                raise FindingsError(
                    f"invalid findings document: field {section}[{index}].box: {box} is empty or reversed; "
                    "boxes are [x1, y1, x2, y2] with x1 < x2 and y1 < y2"
                )
            if x2 > width or y2 > height:
                raise FindingsError(
                    f"invalid findings document: field {section}[{index}].box: {box} lies outside the "
                    f"{width}x{height} image; boxes are in original image pixels"
                )
    seen: set[str] = set()
    for index, item in enumerate(data["findings"]):
        if item["id"] in seen:
            raise FindingsError(
                f"invalid findings document: field findings[{index}].id: {item['id']!r} is used twice; "
                "give every finding its own id"
            )
        seen.add(item["id"])


def _box(value: list[float] | None) -> Box | None:
    return None if value is None else (float(value[0]), float(value[1]), float(value[2]), float(value[3]))


def findings_from_dict(data: Any) -> Findings:
    """Validate a parsed JSON document and turn it into :class:`Findings`."""
    validate_findings_dict(data)
    image = dict(data["image"])
    spacing = image.pop("pixel_spacing_mm", None)
    quality = data.get("quality")
    return Findings(
        image=ImageInfo(**image, pixel_spacing_mm=None if spacing is None else (spacing[0], spacing[1])),
        model=ModelInfo(**data["model"]),
        teeth=tuple(Tooth(**{**t, "box": _box(t["box"])}) for t in data["teeth"]),
        findings=tuple(Finding(**{**f, "box": _box(f["box"])}) for f in data["findings"]),
        patient=Patient(**data["patient"]) if "patient" in data else None,
        study=Study(**data["study"]) if "study" in data else None,
        quality=None
        if quality is None
        else Quality(quality["verdict"], tuple(QualityWarning(**w) for w in quality["warnings"])),
        review=Review(**data["review"]) if "review" in data else None,
    )


def load_findings(path: str | os.PathLike[str]) -> Findings:
    """Read and validate a findings JSON file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FindingsError(f"{path}: no such findings file; check the path") from None
    except UnicodeDecodeError:
        raise FindingsError(f"{path}: not a text file; a findings document is UTF-8 JSON") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FindingsError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); fix or re-export it") from None
    try:
        return findings_from_dict(data)
    except FindingsError as exc:
        raise FindingsError(f"{path}: {exc}") from None


def save_findings(findings: Findings, path: str | os.PathLike[str]) -> None:
    """Write a findings document atomically: readers see the old file or the whole new one, never half."""
    validate_findings_dict(findings.to_dict())
    write_text_atomically(Path(path), findings.to_json())
