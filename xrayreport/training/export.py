"""``xrayreport export``: a training checkpoint -> ONNX model + its JSON (preprocessing, classes, thresholds)."""

from __future__ import annotations

import os
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from ..atomic_write import write_text_atomically
from ..dentition import ALL_TEETH
from ..detection.config import OBJECT_CLASSES, ModelConfig
from ..errors import XrayReportError
from .model import CenterNetDetector

OUTPUT_NAMES = ["heatmap", "fdi", "size", "offset"]


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[CenterNetDetector, ModelConfig]:
    """The model (in eval mode, on CPU) and its configuration from a ``.pt`` written by training."""
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
    model = CenterNetDetector(len(OBJECT_CLASSES), len(ALL_TEETH))
    model.load_state_dict(checkpoint["model"])
    model.eval()
    return model, ModelConfig.from_dict(checkpoint["model_config"])


def export_onnx(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    name: str,
    version: str,
    score_thresholds: dict[str, float] | None = None,
    trained_on: tuple[str, ...] = (),
) -> float:
    """Write ``out`` (.onnx) and the JSON beside it; returns the largest |torch - onnxruntime| output difference."""
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
    example = torch.randn(1, 1, prep.input_height, prep.input_width)
    tmp = out.with_suffix(".onnx.tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            str(tmp),
            input_names=["image"],
            output_names=OUTPUT_NAMES,
            dynamo=False,
            opset_version=17,
        )
    os.replace(tmp, out)
    write_text_atomically(out.with_suffix(".json"), config.to_json())
    return max_export_difference(model, out, example)


def max_export_difference(model: CenterNetDetector, onnx_path: Path, example: torch.Tensor) -> float:
    """Largest absolute difference between torch and onnxruntime outputs on ``example``."""
    with torch.no_grad():
        expected = [t.numpy() for t in model(example)]
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    actual = session.run(None, {"image": example.numpy()})
    return float(max(np.abs(a - e).max() for a, e in zip(actual, expected, strict=True)))
