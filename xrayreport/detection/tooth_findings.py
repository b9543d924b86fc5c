"""Second stage: look at every detected tooth at full resolution and say what is wrong with it.

At the detector's 640x320 input a caries lesion is a few pixels wide, so the first stage finds and
numbers teeth and this stage cuts each tooth out of the original radiograph and classifies the crop:
caries, deep caries, periapical lesion, restoration, root canal filling, implant. It also looks at every
implant the detector proposes and keeps only those it agrees with (a crowned, root-filled natural tooth is
bright metal too, but it has a root). Like the detector, the model travels with a JSON
(crop geometry, normalisation, class names, thresholds, version) read by :func:`load_tooth_findings_config`;
:func:`crop_input` is the one preprocessing used both in training and here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from ..errors import UnknownNameError, XrayReportError
from ..findings import Finding, Tooth
from .config import read_model_json
from .preprocess import letterbox
from .runtime import open_onnx_session

TASK = "tooth-findings"  # in the JSON, tells this model from a detector
# Output channels of the tooth classifier. ``deep_caries`` is conditional: P(deep | carious tooth).
# ``restoration`` is any restored tooth (filling, crown, root canal filling); ``root_canal`` names the subtype
# where it can be told; ``implant`` is a fixture in bone without a natural root. A model's JSON lists the
# classes it has (tooth-findings-v1 has the first four).
TOOTH_FINDING_CLASSES: tuple[str, ...] = (
    "caries",
    "deep_caries",
    "periapical_lesion",
    "restoration",
    "root_canal",
    "implant",
)


@dataclass(frozen=True)
class CropPreprocessing:
    """How one tooth becomes the network input of shape (1, input_height, input_width).

    The tooth box grows by ``margin`` of its width and height on every side (periapical lesions sit just
    beyond the root tip), is cut from the original image, blended with a blur of itself where
    ``detail_smoothing`` > 0, contrast-stretched between the crop's own ``low_percentile`` and
    ``high_percentile`` (so no clinic's exposure becomes a shortcut), resized to fit keeping aspect, padded
    bottom/right with zeros, then ``(x - mean) / std``.

    The blend undoes part of the edge enhancement many units apply before export (unsharp masking adds
    ``a * (x - blur(x))``; ``(x + a * blur(x)) / (1 + a)`` takes about as much away), which otherwise reads as
    caries: ``detail_smoothing`` is ``a``, ``detail_smoothing_sigma`` the Gaussian's sigma in network-input
    pixels, so the same detail is smoothed whatever the scan's resolution.
    """

    input_width: int = 96
    input_height: int = 192
    margin: float = 0.06
    low_percentile: float = 0.5
    high_percentile: float = 99.5
    mean: float = 0.449
    std: float = 0.226
    detail_smoothing: float = 0.0
    detail_smoothing_sigma: float = 1.5


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
    # Per class (slope, intercept) on the network's logit, fitted so that a score means the share of teeth
    # that have the finding (Platt scaling); a class not listed is reported as the network says.
    calibration: dict[str, tuple[float, float]] = field(default_factory=dict)

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
        data["calibration"] = {name: (float(a), float(b)) for name, (a, b) in data.get("calibration", {}).items()}
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
    if prep.detail_smoothing > 0:
        crop = smooth_detail(crop, prep)
    low, high = np.percentile(crop, [prep.low_percentile, prep.high_percentile])
    scaled = (crop.astype(np.float32) - low) * (255.0 / max(high - low, 1.0))
    stretched = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    canvas, _ = letterbox(stretched, prep.input_width, prep.input_height)
    return ((canvas.astype(np.float32) / 255.0 - prep.mean) / prep.std)[None]


def smooth_detail(crop: NDArray[np.uint8], prep: CropPreprocessing) -> NDArray[np.uint8]:
    """``crop`` blended with its Gaussian blur as :class:`CropPreprocessing` says (sigma scaled to crop pixels)."""
    height, width = crop.shape
    to_input = min(prep.input_width / width, prep.input_height / height)
    blurred = cv2.GaussianBlur(crop, (0, 0), prep.detail_smoothing_sigma / to_input)
    amount = prep.detail_smoothing
    return np.asarray(cv2.addWeighted(crop, 1.0 / (1.0 + amount), blurred, amount / (1.0 + amount), 0), np.uint8)


def tooth_input(
    pixels: NDArray[np.uint8], box: tuple[float, float, float, float], prep: CropPreprocessing
) -> NDArray[np.float32]:
    """The network input for the tooth ``box`` (pixels of the (H, W) ``pixels``): grown by the margin, cut, prepared."""
    height, width = pixels.shape
    x1, y1, x2, y2 = crop_region(box, prep.margin, width, height)
    return crop_input(pixels[y1:y2, x1:x2], prep)


def unconditional(
    probabilities: NDArray[np.float64], classes: tuple[str, ...] = TOOTH_FINDING_CLASSES
) -> NDArray[np.float64]:
    """(N, C) network probabilities with deep caries made unconditional: P(caries) * P(deep | caries)."""
    out = np.array(probabilities, dtype=np.float64)
    if "deep_caries" in classes and "caries" in classes:
        out[:, classes.index("deep_caries")] *= out[:, classes.index("caries")]
    return out


def calibrated(logits: NDArray[np.floating[Any]], config: ToothFindingsConfig) -> NDArray[np.float64]:
    """(N, C) network logits -> probabilities, each class through its Platt scaling where it has one."""
    values = np.array(logits, dtype=np.float64)
    for name, (slope, intercept) in config.calibration.items():
        index = config.classes.index(name)
        values[:, index] = slope * values[:, index] + intercept
    return np.asarray(1.0 / (1.0 + np.exp(-values)), dtype=np.float64)


def reported_scores(logits: NDArray[np.floating[Any]], config: ToothFindingsConfig) -> NDArray[np.float64]:
    """(N, C) logits -> the scores the product reports and thresholds: calibrated, deep caries unconditional."""
    return unconditional(calibrated(logits, config), config.classes)


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

    def logits(self, pixels: NDArray[np.uint8], boxes: list[tuple[float, float, float, float]]) -> NDArray[np.float32]:
        """(N, len(classes)) raw network logits for N tooth ``boxes`` (original pixels) of a (H, W) uint8 image."""
        return self.run([tooth_input(pixels, box, self.config.preprocessing) for box in boxes])

    def run(self, inputs: list[NDArray[np.float32]]) -> NDArray[np.float32]:
        """(N, len(classes)) raw logits for N network inputs of :func:`tooth_input`."""
        if not inputs:
            return np.zeros((0, len(self.config.classes)), np.float32)
        (logits,) = self.session.run(None, {"crops": np.stack(inputs)})
        return np.asarray(logits, dtype=np.float32)

    def probabilities(
        self, pixels: NDArray[np.uint8], boxes: list[tuple[float, float, float, float]]
    ) -> NDArray[np.float64]:
        """(N, len(classes)) calibrated probabilities for N tooth ``boxes`` (original pixels) of a (H, W) uint8
        image. ``deep_caries`` is returned unconditionally: P(caries) * P(deep | caries).
        """
        return reported_scores(self.logits(pixels, boxes), self.config)

    def classify(self, pixels: NDArray[np.uint8], teeth: list[Tooth]) -> list[Finding]:
        """Findings on ``teeth`` (boxes in original pixels) of a (H, W) uint8 image, with ids ``t1``, ``t2``...
        (the detector renumbers them among all findings of the scan). See :func:`reported_types` for which.
        """
        boxed = [t for t in teeth if t.box is not None]
        probabilities = self.probabilities(pixels, [t.box for t in boxed if t.box is not None])
        findings: list[Finding] = []
        for tooth, row in zip(boxed, probabilities, strict=True):
            score = dict(zip(self.config.classes, (float(p) for p in row), strict=True))
            for name in reported_types(score, self.config.threshold):
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

    def confirms_implants(self) -> bool:
        """True when this model can check the detector's implants: it has an ``implant`` output whose threshold is
        reachable. An output disabled at validation (threshold above 1) never reached precision enough to report
        an implant, so it does not get to veto the detector's either."""
        return "implant" in self.config.classes and self.config.threshold("implant") <= 1.0

    def implant_scores(
        self, pixels: NDArray[np.uint8], boxes: list[tuple[float, float, float, float]]
    ) -> NDArray[np.float64]:
        """(N,) P(implant) for N boxes the detector calls implants, each cut and judged as a tooth is."""
        if not self.confirms_implants():
            raise XrayReportError(
                f"{self.config.name} {self.config.version} has no implant output; its classes are "
                f"{', '.join(self.config.classes)}"
            )
        return self.probabilities(pixels, boxes)[:, self.config.classes.index("implant")]


def reported_types(score: dict[str, float], threshold: Callable[[str], float]) -> list[str]:
    """The finding types reported on one tooth from its class probabilities (only the classes a model has).

    - an implant is only an implant: no decay, restoration or root canal is reported on it;
    - a carious tooth gets one finding, ``deep_caries`` when deep is also likely enough, else ``caries``;
    - a restored tooth gets one finding, ``root_canal`` where the root filling is likely enough, else the
      generic ``restoration`` (crown and filling cannot be told apart reliably: see the model card);
    - a periapical lesion is reported on its own.
    """

    def above(name: str) -> bool:
        return name in score and score[name] >= threshold(name)

    if above("implant"):
        return ["implant"]
    reported = []
    if above("caries"):
        reported.append("deep_caries" if above("deep_caries") else "caries")
    if above("periapical_lesion"):
        reported.append("periapical_lesion")
    if above("root_canal"):
        reported.append("root_canal")
    elif above("restoration"):
        reported.append("restoration")
    return reported
