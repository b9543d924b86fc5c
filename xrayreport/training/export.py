"""``xrayreport export``: a training checkpoint (detector or tooth classifier) -> ONNX + its JSON (preprocessing,
classes, thresholds)."""

from __future__ import annotations

import os
import warnings
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from ..atomic_write import write_text_atomically
from ..dentition import ALL_TEETH
from ..detection.config import OBJECT_CLASSES, ModelConfig
from ..detection.tooth_findings import TASK as TOOTH_FINDINGS_TASK
from ..detection.tooth_findings import ToothFindingsConfig
from ..errors import XrayReportError
from .model import CenterNetDetector
from .onnx_weights import max_export_difference
from .tooth_classifier import ToothClassifier

# Input and output names of each kind of network, as the serving code feeds and reads them.
_DETECTOR_IO = (["image"], ["heatmap", "fdi", "size", "offset"])
_TOOTH_CLASSIFIER_IO = (["crops"], ["logits"])

ExportedConfig = ModelConfig | ToothFindingsConfig


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[nn.Module, ExportedConfig]:
    """The model (in eval mode, on CPU) and its configuration from a ``.pt`` written by training.

    Detector and tooth classifier checkpoints are told apart by the ``kind`` training stores in them.
    """
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise XrayReportError(f"{path}: checkpoint not found; train first (xrayreport train CONFIG)") from None
    except Exception as exc:  # unpickling a foreign or damaged file raises almost anything
        raise XrayReportError(
            f"{path}: cannot be read as a checkpoint ({type(exc).__name__}); pass best.pt or last.pt of a run"
        ) from None
    if not isinstance(checkpoint, dict) or not {"model", "model_config"} <= checkpoint.keys():
        raise XrayReportError(f"{path}: not a checkpoint written by xrayreport train; pass best.pt or last.pt of a run")
    model: nn.Module
    config: ExportedConfig
    if checkpoint.get("kind") == TOOTH_FINDINGS_TASK:
        config = ToothFindingsConfig.from_dict(checkpoint["model_config"])
        model = ToothClassifier(len(config.classes))
    else:
        model = CenterNetDetector(len(OBJECT_CLASSES), len(ALL_TEETH))
        config = ModelConfig.from_dict(checkpoint["model_config"])
    model.load_state_dict(checkpoint["model"])
    model.eval()
    return model, config


def export_onnx(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    name: str,
    version: str,
    score_thresholds: dict[str, float] | None = None,
    trained_on: tuple[str, ...] = (),
) -> float:
    """Write ``out`` (.onnx) and the JSON beside it; returns the largest |torch - onnxruntime| output difference.

    A tooth classifier gets a variable batch dimension (one crop per tooth); a detector takes one image.
    """
    model, config = load_checkpoint(checkpoint)
    config = replace(
        config,
        name=name,
        version=version,
        trained_on=trained_on,
        score_thresholds=score_thresholds or config.score_thresholds,
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    prep = config.preprocessing
    is_classifier = isinstance(config, ToothFindingsConfig)
    inputs, outputs = _TOOTH_CLASSIFIER_IO if is_classifier else _DETECTOR_IO
    example = torch.randn(3 if is_classifier else 1, 1, prep.input_height, prep.input_width)
    tmp = out.with_suffix(".onnx.tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            str(tmp),
            input_names=inputs,
            output_names=outputs,
            dynamic_axes={inputs[0]: {0: "teeth"}, outputs[0]: {0: "teeth"}} if is_classifier else None,
            dynamo=False,
            opset_version=17,
        )
    os.replace(tmp, out)
    write_text_atomically(out.with_suffix(".json"), config.to_json())
    return max_export_difference(model, out, example)
