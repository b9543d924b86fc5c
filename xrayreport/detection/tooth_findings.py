"""Second stage: look at every detected tooth at full resolution and say what is wrong with it.

At the detector's 640x320 input a caries lesion is a few pixels wide, so the first stage finds and
numbers teeth and this stage cuts each tooth out of the original radiograph and classifies the crop:
caries, deep caries, periapical lesion, restoration. Like the detector, the model travels with a JSON
(crop geometry, normalisation, class names, thresholds, version) read by :func:`load_tooth_findings_config`;
:func:`crop_input` is the one preprocessing used both in training and here.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import UnknownNameError, XrayReportError
from ..findings import Finding, Tooth
from .config import read_model_json
from .preprocess import letterbox
from .runtime import open_onnx_session

TASK = "tooth-findings"  # in the JSON, tells this model from a detector
# Output channels of the tooth classifier. ``deep_caries`` is conditional: P(deep | carious tooth).
TOOTH_FINDING_CLASSES: tuple[str, ...] = ("caries", "deep_caries", "periapical_lesion", "restoration")


@dataclass(frozen=True)
class CropPreprocessing:
    """How one tooth becomes the network input of shape (1, input_height, input_width).

    The tooth box grows by ``margin`` of its width and height on every side (periapical lesions sit just
    beyond the root tip), is cut from the original image, contrast-stretched between the crop's own
    ``low_percentile`` and ``high_percentile`` (so no clinic's exposure becomes a shortcut), resized to fit
    keeping aspect, padded bottom/right with zeros, then ``(x - mean) / std``.
    """

    input_width: int = 96
    input_height: int = 192
    margin: float = 0.06
    low_percentile: float = 0.5
    high_percentile: float = 99.5
    mean: float = 0.449
    std: float = 0.226


@dataclass(frozen=True)
class ToothFindingsConfig:
    """Everything about a shipped tooth classifier except its weights."""

    name: str
    version: str
    task: str = TASK
    preprocessing: CropPreprocessing = field(default_factory=CropPreprocessing)
    classes: tuple[str, ...] = TOOTH_FINDING_CLASSES
    # Minimum probability for a finding to be reported; above 1 the class is never reported.
    score_thresholds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(TOOTH_FINDING_CLASSES, 0.5))
    trained_on: tuple[str, ...] = ()

    def threshold(self, class_name: str) -> float:
        if class_name not in self.score_thresholds:
            raise UnknownNameError("tooth finding class", class_name, self.score_thresholds)
        return self.score_thresholds[class_name]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ToothFindingsConfig:
        data = dict(data)
        data["preprocessing"] = CropPreprocessing(**data.get("preprocessing", {}))
        for key in ("classes", "trained_on"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)


def load_tooth_findings_config(path: str | os.PathLike[str]) -> ToothFindingsConfig:
    """Read a tooth classifier's JSON; raises :class:`XrayReportError` naming the file when it is wrong."""
    return read_model_json(path, ToothFindingsConfig.from_dict)


def crop_region(
    box: tuple[float, float, float, float], margin: float, width: int, height: int
) -> tuple[int, int, int, int]:
    """The integer pixel region [x1, y1, x2, y2) of a tooth ``box`` grown by ``margin``, clipped to the image."""
    grow_x, grow_y = (box[2] - box[0]) * margin, (box[3] - box[1]) * margin
    x1, y1 = max(0, int(np.floor(box[0] - grow_x))), max(0, int(np.floor(box[1] - grow_y)))
    x2, y2 = min(width, int(np.ceil(box[2] + grow_x))), min(height, int(np.ceil(box[3] + grow_y)))
    return x1, y1, max(x2, x1 + 1), max(y2, y1 + 1)


def crop_input(crop: NDArray[np.uint8], prep: CropPreprocessing) -> NDArray[np.float32]:
    """A (h, w) uint8 tooth crop -> the (1, input_height, input_width) float32 network input."""
    low, high = np.percentile(crop, [prep.low_percentile, prep.high_percentile])
    scaled = (crop.astype(np.float32) - low) * (255.0 / max(high - low, 1.0))
    stretched = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    canvas, _ = letterbox(stretched, prep.input_width, prep.input_height)
    return ((canvas.astype(np.float32) / 255.0 - prep.mean) / prep.std)[None]


def unconditional(
    probabilities: NDArray[np.float64], classes: tuple[str, ...] = TOOTH_FINDING_CLASSES
) -> NDArray[np.float64]:
    """(N, C) network probabilities with deep caries made unconditional: P(caries) * P(deep | caries)."""
    out = np.array(probabilities, dtype=np.float64)
    if "deep_caries" in classes and "caries" in classes:
        out[:, classes.index("deep_caries")] *= out[:, classes.index("caries")]
    return out


class ToothFindingsClassifier:
    """A loaded tooth classifier. Load once, then :meth:`classify` the teeth of each scan (thread-safe)."""

    def __init__(self, model_path: str | os.PathLike[str], threads: int | None = None) -> None:
        path = Path(model_path)
        if not path.exists():
            raise XrayReportError(
                f"tooth findings model not found at {path}; it must lie beside the detector (models/) "
                "or the detector's JSON must not name one"
            )
        self.config = load_tooth_findings_config(path.with_suffix(".json"))
        self.session = open_onnx_session(path, threads)

    def probabilities(
        self, pixels: NDArray[np.uint8], boxes: list[tuple[float, float, float, float]]
    ) -> NDArray[np.float64]:
        """(N, len(classes)) probabilities for N tooth ``boxes`` (original pixels) of a (H, W) uint8 image.

        ``deep_caries`` is returned unconditionally: P(caries) * P(deep | caries).
        """
        prep = self.config.preprocessing
        if not boxes:
            return np.zeros((0, len(self.config.classes)))
        height, width = pixels.shape
        batch = []
        for box in boxes:
            x1, y1, x2, y2 = crop_region(box, prep.margin, width, height)
            batch.append(crop_input(pixels[y1:y2, x1:x2], prep))
        (logits,) = self.session.run(None, {"crops": np.stack(batch)})
        return unconditional(1.0 / (1.0 + np.exp(-logits.astype(np.float64))), self.config.classes)

    def classify(self, pixels: NDArray[np.uint8], teeth: list[Tooth]) -> list[Finding]:
        """Findings on ``teeth`` (boxes in original pixels) of a (H, W) uint8 image, with ids ``t1``, ``t2``...
        (the detector renumbers them among all findings of the scan).

        A tooth reported carious gets one finding: ``deep_caries`` when deep is also likely enough, else ``caries``.
        """
        boxed = [t for t in teeth if t.box is not None]
        probabilities = self.probabilities(pixels, [t.box for t in boxed if t.box is not None])
        classes = self.config.classes
        findings: list[Finding] = []
        for tooth, row in zip(boxed, probabilities, strict=True):
            score = dict(zip(classes, (float(p) for p in row), strict=True))
            reported = [n for n in classes if n != "deep_caries" and score[n] >= self.config.threshold(n)]
            if "caries" in reported and score.get("deep_caries", 0.0) >= self.config.threshold("deep_caries"):
                reported[reported.index("caries")] = "deep_caries"
            for name in reported:
                findings.append(
                    Finding(
                        id=f"t{len(findings) + 1}",
                        type=name,
                        tooth=tooth.fdi,
                        box=tooth.box,
                        score=round(score[name], 4),
                        source="model",
                    )
                )
        return findings
