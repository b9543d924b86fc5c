"""The findings contract: what analysis found on one scan, as a typed, versioned document.

Analysis writes it, dentists correct it, and chart, plan and report read it and nothing else from
analysis. On disk it is JSON that validates against ``findings.schema.json`` (shipped beside this
module); :func:`findings_from_dict` checks a document against the schema and then against the rules
a schema cannot express (boxes inside the image, unique ids), naming the offending field.
"""

from __future__ import annotations

import datetime
import json
import math
import os
from collections.abc import Iterable
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
class StageInfo:
    """One model by name and version."""

    name: str
    version: str


@dataclass(frozen=True)
class ModelInfo:
    """What produced the document; ``second_stage`` is the per-tooth classifier the detector ran, if any."""

    name: str
    version: str
    second_stage: StageInfo | None = None


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
        if out["model"]["second_stage"] is None:
            del out["model"]["second_stage"]  # absent, as in documents written before it existed
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"


def _lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    return value


MESSAGE_VALUE_LENGTH = 200
"""The most characters of a schema complaint (which quotes the value) an error message carries."""


def _field_path(path: Iterable[str | int]) -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    return text.lstrip(".") or "(document)"


def _invalid(path: Iterable[str | int], problem: str) -> FindingsError:
    return FindingsError(f"invalid findings document: field {_field_path(path)}: {problem}")


def _schema_error(error: jsonschema.ValidationError) -> FindingsError:
    """Turn a JSON Schema error into a message that names the offending field itself."""
    path = list(error.absolute_path)
    instance: Any = error.instance
    schema: Any = error.schema
    if error.validator == "required" and isinstance(instance, dict):
        missing = [name for name in schema["required"] if name not in instance]
        return _invalid([*path, missing[0]], "missing (required; see docs/findings.md)")
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        known = sorted(schema.get("properties", {}))
        extra = sorted(set(instance) - set(known))
        return _invalid([*path, extra[0]], f"not part of {SCHEMA_ID}; the fields here are: {', '.join(known)}")
    # The bounds are named without echoing the value: a note can hold anything, and messages reach logs.
    if error.validator == "maxItems" and isinstance(instance, list):
        return _invalid(path, f"{len(instance)} entries, more than the {error.validator_value} a document may hold")
    if error.validator == "maxLength" and isinstance(instance, str):
        return _invalid(path, f"{len(instance)} characters, more than the {error.validator_value} allowed here")
    expected = schema.get("description") if isinstance(schema, dict) else None
    hint = f" (expected: {expected})" if expected else ""
    message = (
        error.message if len(error.message) <= MESSAGE_VALUE_LENGTH else error.message[:MESSAGE_VALUE_LENGTH] + "..."
    )
    return _invalid(path, f"{message}{hint}. Fix it to match the schema {SCHEMA_ID} (see docs/findings.md)")


def validate_findings_dict(data: Any) -> None:
    """Raise :class:`FindingsError` naming the first invalid field of a findings document.

    Checks the JSON Schema, then what a schema cannot say: real calendar dates, boxes inside the
    image with x1 < x2 and y1 < y2, unique finding ids and one entry per tooth.
    """
    if isinstance(data, dict):
        version = data.get("schema")
        if isinstance(version, str) and version.startswith("xrayreport.findings/") and version != SCHEMA_ID:
            raise _invalid(
                ["schema"],
                f"this document is {version}, and this xrayreport reads {SCHEMA_ID}; "
                "use the xrayreport version that wrote it, or convert it",
            )
    validator = jsonschema.Draft202012Validator(findings_schema())
    worst = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if worst is not None:
        raise _schema_error(worst)
    _check_finite(data, [])  # after the schema, which bounds how deep the document goes
    _check_dates(data)
    width, height = data["image"]["width"], data["image"]["height"]
    for section in ("teeth", "findings"):
        for index, item in enumerate(data[section]):
            box = item.get("box")
            if box is None:
                continue
            x1, y1, x2, y2 = box
            if not (x1 < x2 and y1 < y2):
                raise _invalid(
                    [section, index, "box"],
                    f"{box} is empty or reversed; boxes are [x1, y1, x2, y2] with x1 < x2 and y1 < y2",
                )
            if x2 > width or y2 > height:
                raise _invalid(
                    [section, index, "box"],
                    f"{box} lies outside the {width}x{height} image; boxes are in original image pixels",
                )
    _check_unique(data["findings"], "findings", "id", "give every finding its own id")
    _check_unique(data["teeth"], "teeth", "fdi", "a tooth is listed once; put what is seen on it in findings")


def _check_finite(value: Any, path: list[str | int]) -> None:
    """Refuse NaN and infinities, which Python's JSON reader accepts, every comparison in the schema lets
    through (NaN is neither below a minimum nor above a maximum), and strict JSON cannot write back."""
    if isinstance(value, float) and not math.isfinite(value):
        raise _invalid(path, f"{value} is not a number a document can hold; send a finite number")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_finite(item, [*path, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_finite(item, [*path, index])


def _check_unique(items: list[dict[str, Any]], section: str, key: str, advice: str) -> None:
    seen: set[str] = set()
    for index, item in enumerate(items):
        if item[key] in seen:
            raise _invalid([section, index, key], f"{item[key]!r} is used twice; {advice}")
        seen.add(item[key])


def _check_dates(data: dict[str, Any]) -> None:
    # The schema's patterns accept 2024-13-45; the calendar does not.
    for section, key in (("patient", "birth_date"), ("study", "date")):
        value = data.get(section, {}).get(key)
        if value is not None:
            try:
                datetime.date.fromisoformat(value)
            except ValueError:
                raise _invalid([section, key], f"{value!r} is not a calendar date (YYYY-MM-DD)") from None
    reviewed_at = data.get("review", {}).get("reviewed_at")
    if reviewed_at is not None:
        try:
            datetime.datetime.fromisoformat(reviewed_at)
        except ValueError:
            raise _invalid(
                ["review", "reviewed_at"], f"{reviewed_at!r} is not an ISO 8601 date-time (e.g. 2026-05-01T14:30:00Z)"
            ) from None


def _box(value: list[float] | None) -> Box | None:
    return None if value is None else (float(value[0]), float(value[1]), float(value[2]), float(value[3]))


def _model_info(data: dict[str, Any]) -> ModelInfo:
    stage = data.get("second_stage")
    return ModelInfo(data["name"], data["version"], None if stage is None else StageInfo(**stage))


def findings_from_dict(data: Any) -> Findings:
    """Validate a parsed JSON document and turn it into :class:`Findings`."""
    validate_findings_dict(data)
    image = dict(data["image"])
    spacing = image.pop("pixel_spacing_mm", None)
    quality = data.get("quality")
    return Findings(
        image=ImageInfo(**image, pixel_spacing_mm=None if spacing is None else (spacing[0], spacing[1])),
        model=_model_info(data["model"]),
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
    except IsADirectoryError:
        raise FindingsError(f"{path}: is a folder; give the path of a findings JSON file") from None
    except OSError as exc:
        raise FindingsError(f"{path}: cannot be read ({exc.strerror or exc}); check the file") from None
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
