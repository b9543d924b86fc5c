"""The JSON that travels beside each ONNX model: preprocessing, class names, thresholds, version.

Like torchvision's ``Weights`` or timm's ``PretrainedCfg``, everything needed to feed the network and read
its output lives in this one file, written by ``xrayreport export`` and read by the detector.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..dentition import ALL_TEETH
from ..errors import UnknownNameError, XrayReportError

_Config = TypeVar("_Config")

# Heatmap channels of the detector: channel 0 finds teeth, the others findings (contract type names).
OBJECT_CLASSES: tuple[str, ...] = ("tooth", "caries", "restoration", "impacted", "implant")


@dataclass(frozen=True)
class Preprocessing:
    """How a greyscale radiograph becomes the network input of shape (1, 1, input_height, input_width).

    The image is resized to fit inside the input keeping its aspect ratio, padded bottom/right with
    zeros, contrast-equalised with CLAHE, scaled to [0, 1], then ``(x - mean) / std``.
    """

    input_width: int = 768
    input_height: int = 384
    clahe_clip_limit: float = 2.0
    clahe_tile_grid: int = 8
    mean: float = 0.449
    std: float = 0.226


@dataclass(frozen=True)
class ModelConfig:
    """Everything about a shipped detector except its weights."""

    name: str
    version: str
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    output_stride: int = 4
    classes: tuple[str, ...] = OBJECT_CLASSES
    fdi_classes: tuple[str, ...] = ALL_TEETH
    # Minimum heatmap score per class for a detection to be reported; above 1 the class is never
    # reported (disabled because it was too unreliable on the validation split).
    score_thresholds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(OBJECT_CLASSES, 0.3))
    max_detections: int = 100
    nms_iou: float = 0.5
    trained_on: tuple[str, ...] = ()
    # File name, beside this model, of the tooth findings classifier run on every detected tooth (or None).
    second_stage: str | None = None

    def threshold(self, class_name: str) -> float:
        if class_name not in self.score_thresholds:
            raise UnknownNameError("detector class", class_name, self.score_thresholds)
        return self.score_thresholds[class_name]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        data = dict(data)
        data["preprocessing"] = Preprocessing(**data.get("preprocessing", {}))
        for key in ("classes", "fdi_classes", "trained_on"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)


def load_model_config(path: str | os.PathLike[str]) -> ModelConfig:
    """Read a detector's JSON; raises :class:`XrayReportError` saying which file and field is wrong."""
    return read_model_json(path, ModelConfig.from_dict)


def read_model_json(path: str | os.PathLike[str], parse: Callable[[dict[str, Any]], _Config]) -> _Config:
    """Read the JSON beside a model with ``parse`` (a ``from_dict``); errors name the file and how to fix it."""
    path = Path(path)
    try:
        return parse(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise XrayReportError(f"{path}: model configuration not found; it must lie beside the .onnx file") from None
    except (json.JSONDecodeError, TypeError) as exc:
        raise XrayReportError(f"{path}: invalid model configuration ({exc}); re-export the model") from None
