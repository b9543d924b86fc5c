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
from ..detection.config import OBJECT_CLASSES, ModelConfig, load_model_config
from ..detection.tooth_findings import TASK as TOOTH_FINDINGS_TASK
from ..detection.tooth_findings import ToothFindingsConfig, load_tooth_findings_config
from ..errors import UnknownNameError, XrayReportError
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
    thresholds_from: str | os.PathLike[str] | None = None,
    second_stage: str | None = None,
    classes: tuple[str, ...] | None = None,
) -> float:
    """Write ``out`` (.onnx) and the JSON beside it; returns the largest |torch - onnxruntime| output difference.

    A tooth classifier gets a variable batch dimension (one crop per tooth); a detector takes one image.
    ``thresholds_from`` is another model's JSON of the same kind and classes whose score thresholds the new model
    takes (a fine-tuned detector keeping the shipped one's); ``second_stage`` is the file name of the tooth findings
    classifier beside ``out`` that a detector runs on every tooth. ``classes`` (a tooth classifier) keeps only those
    outputs, e.g. when a fine-tune added outputs that none of its sources taught.
    """
    model, config = load_checkpoint(checkpoint)
    if classes is not None:
        model, config = _with_outputs(model, config, classes)
    out = Path(out)
    if thresholds_from is not None:
        score_thresholds = _thresholds_of(Path(thresholds_from), config)
    config = replace(
        config,
        name=name,
        version=version,
        trained_on=trained_on,
        score_thresholds=score_thresholds or config.score_thresholds,
    )
    if second_stage is not None:
        config = _with_second_stage(config, out.parent / second_stage)
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


def _with_outputs(
    model: nn.Module, config: ExportedConfig, classes: tuple[str, ...]
) -> tuple[nn.Module, ToothFindingsConfig]:
    """The tooth classifier cut down to the outputs ``classes`` names, in the model's own order."""
    if not isinstance(config, ToothFindingsConfig) or not isinstance(model, ToothClassifier):
        raise XrayReportError("--classes belongs to a tooth classifier's export; this checkpoint is a detector")
    for name in classes:
        if name not in config.classes:
            raise UnknownNameError("tooth finding class", name, config.classes)
    if "deep_caries" in classes and "caries" not in classes:
        raise XrayReportError("deep_caries is reported as P(caries) x P(deep | caries); keep caries with it")
    kept = tuple(name for name in config.classes if name in classes)
    rows = [config.classes.index(name) for name in kept]
    head = nn.Linear(model.head.in_features, len(kept))
    with torch.no_grad():
        head.weight.copy_(model.head.weight[rows])
        head.bias.copy_(model.head.bias[rows])
    model.head = head
    return model, replace(
        config,
        classes=kept,
        score_thresholds={k: v for k, v in config.score_thresholds.items() if k in kept},
        calibration={k: v for k, v in config.calibration.items() if k in kept},
    )


def _thresholds_of(path: Path, config: ExportedConfig) -> dict[str, float]:
    """The score thresholds of the model whose JSON is ``path``, which must classify what ``config`` classifies."""
    other: ExportedConfig = (
        load_tooth_findings_config(path) if isinstance(config, ToothFindingsConfig) else load_model_config(path)
    )
    if other.classes != config.classes:
        raise XrayReportError(
            f"{path}: its classes {list(other.classes)} are not this model's {list(config.classes)}; "
            "take the thresholds from a model of the same kind"
        )
    return dict(other.score_thresholds)


def _with_second_stage(config: ExportedConfig, classifier: Path) -> ModelConfig:
    """A detector's configuration naming ``classifier``, a tooth findings model that must already lie beside it."""
    if isinstance(config, ToothFindingsConfig):
        raise XrayReportError("--second-stage belongs to a detector's export; this checkpoint is a tooth classifier")
    if classifier.suffix != ".onnx" or not classifier.is_file():
        raise XrayReportError(f"{classifier}: no .onnx file; export the tooth classifier beside the detector first")
    load_tooth_findings_config(classifier.with_suffix(".json"))  # refuses a JSON that is not a tooth classifier's
    return replace(config, second_stage=classifier.name)
