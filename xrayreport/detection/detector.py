"""The shipped detector: ONNX model + its JSON, run with onnxruntime. Radiograph in, Findings out."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..errors import XrayReportError
from ..findings import Finding, Findings, ImageInfo, ModelInfo, Patient, StageInfo, Study, Tooth
from ..ingestion import Radiograph
from .config import ModelConfig, load_model_config
from .decode import decode
from .interpret import Detection, assess_quality, build_findings, looks_upside_down, number_teeth
from .preprocess import letterbox, normalise
from .runtime import open_onnx_session
from .tooth_findings import ToothFindingsClassifier

DEFAULT_MODEL = "detector-v1"
# A wheel carries the shipped models in the package (setup.py copies them); a checkout has them in models/.
_PACKAGED_MODELS = Path(__file__).resolve().parents[1] / "_models"
MODELS_DIR = _PACKAGED_MODELS if _PACKAGED_MODELS.is_dir() else Path(__file__).resolve().parents[2] / "models"


def default_model_path() -> Path:
    """``$XRAYREPORT_MODEL`` if set, else the shipped ``models/detector-v1.onnx``."""
    return Path(os.environ.get("XRAYREPORT_MODEL", MODELS_DIR / f"{DEFAULT_MODEL}.onnx"))


class Detector:
    """A loaded detection model, with the tooth findings classifier its JSON names as ``second_stage``.

    Load once, then call :meth:`analyze` per scan (thread-safe).
    """

    def __init__(self, model_path: str | os.PathLike[str] | None = None, threads: int | None = None) -> None:
        path = Path(model_path) if model_path is not None else default_model_path()
        if not path.exists():
            raise XrayReportError(
                f"detection model not found at {path}; pass --model PATH.onnx or set XRAYREPORT_MODEL "
                f"(the shipped one is {MODELS_DIR / DEFAULT_MODEL}.onnx; reinstall xrayreport if it is missing)"
            )
        self.config: ModelConfig = load_model_config(path.with_suffix(".json"))
        self.session = open_onnx_session(path, threads)
        self.tooth_findings = (
            ToothFindingsClassifier(path.parent / self.config.second_stage, threads)
            if self.config.second_stage
            else None
        )

    @property
    def model_info(self) -> ModelInfo:
        """The models a findings document from this detector records: its own and its second stage's."""
        stage = self.tooth_findings
        return ModelInfo(
            name=self.config.name,
            version=self.config.version,
            second_stage=StageInfo(stage.config.name, stage.config.version) if stage else None,
        )

    def detect(self, pixels: NDArray[np.uint8], thresholds: dict[str, float] | None = None) -> list[Detection]:
        """Objects in a (H, W) uint8 image, boxes in its pixels; ``thresholds`` override the shipped ones."""
        prep = self.config.preprocessing
        canvas, box_map = letterbox(pixels, prep.input_width, prep.input_height)
        heatmap, fdi, size, offset = self.session.run(None, {"image": normalise(canvas, prep)})
        per_class = {**self.config.score_thresholds, **(thresholds or {})}
        raw = decode(
            heatmap[0],
            fdi[0],
            size[0],
            offset[0],
            stride=self.config.output_stride,
            thresholds=np.array([per_class[name] for name in self.config.classes]),
            nms_iou=self.config.nms_iou,
            max_detections=self.config.max_detections,
        )
        boxes = box_map.to_original(raw.boxes)
        return [
            Detection(
                label=self.config.classes[int(c)],
                box=(float(b[0]), float(b[1]), float(b[2]), float(b[3])),
                score=float(s),
                fdi_probabilities=p if self.config.classes[int(c)] == "tooth" else None,
            )
            for b, s, c, p in zip(boxes, raw.scores, raw.classes, raw.fdi_probabilities, strict=True)
            if b[2] > b[0] and b[3] > b[1]
        ]

    def interpret(self, pixels: NDArray[np.uint8], detections: list[Detection]) -> tuple[list[Tooth], list[Finding]]:
        """Detections at the shipped thresholds -> numbered teeth and every finding of the scan.

        Detections -> numbered teeth -> implants the second stage confirms -> per-tooth findings (second
        stage) -> findings with missing teeth.
        """
        teeth = number_teeth([d for d in detections if d.label == "tooth"], self.config.fdi_classes)
        objects = self._confirmed_implants(pixels, [d for d in detections if d.label != "tooth"])
        on_teeth = self.tooth_findings.classify(pixels, teeth) if self.tooth_findings else []
        return teeth, build_findings(objects, teeth, on_teeth)

    def _confirmed_implants(self, pixels: NDArray[np.uint8], objects: list[Detection]) -> list[Detection]:
        """``objects`` with each implant kept only where the second stage, looking at it at full resolution, also
        sees an implant (a crowned, root-filled natural tooth is bright metal too, but it has a root); a kept
        implant's score becomes the second stage's calibrated probability. Unchanged without such a stage."""
        stage = self.tooth_findings
        implants = [d for d in objects if d.label == "implant"]
        if stage is None or not implants or not stage.confirms_implants():
            return objects
        scores = iter(stage.implant_scores(pixels, [d.box for d in implants]))
        kept = []
        for detection in objects:
            if detection.label != "implant":
                kept.append(detection)
            elif (score := float(next(scores))) >= stage.config.threshold("implant"):
                kept.append(replace(detection, score=score))
        return kept

    def analyze(self, radiograph: Radiograph) -> Findings:
        """The findings document for one scan: numbered teeth, findings, missing teeth and a quality verdict.

        Scan -> detections -> numbered teeth and findings (:meth:`interpret`) -> findings document.
        """
        detections = self.detect(radiograph.pixels)
        upside_down = looks_upside_down(detections, self.detect(np.ascontiguousarray(radiograph.pixels[::-1])))
        teeth, findings = self.interpret(radiograph.pixels, detections)
        meta = radiograph.metadata
        has_patient = any((meta.patient_name, meta.patient_id, meta.birth_date, meta.sex))
        has_study = any((meta.study_date, meta.institution, meta.modality))
        return Findings(
            image=ImageInfo(
                width=radiograph.width,
                height=radiograph.height,
                sha256=radiograph.sha256,
                source=radiograph.source_name,
                pixel_spacing_mm=radiograph.pixel_spacing_mm,
            ),
            model=self.model_info,
            teeth=tuple(teeth),
            findings=tuple(findings),
            patient=Patient(
                name=meta.patient_name,
                id=meta.patient_id,
                birth_date=meta.birth_date,
                sex=meta.sex,  # type: ignore[arg-type]
            )
            if has_patient
            else None,
            study=Study(date=meta.study_date, institution=meta.institution, modality=meta.modality)
            if has_study
            else None,
            quality=assess_quality(radiograph.pixels, teeth, upside_down=upside_down),
        )
