"""A tiny exported detector with random initial weights, for contract tests of inference, analyze and evaluate."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

TINY_INPUT = (320, 160)  # width, height: small enough that a CPU analysis takes milliseconds


def export_untrained_model(folder: Path) -> Path:
    """A random-init CenterNet saved as training saves checkpoints, exported to ``folder/tiny.onnx`` (+ .json)."""
    torch = pytest.importorskip("torch", reason="exporting a model needs the [train] extra")
    from xrayreport.detection.config import ModelConfig, Preprocessing
    from xrayreport.training.export import export_onnx
    from xrayreport.training.train import DatasetEntry, TrainConfig, build_model

    config = TrainConfig(name="tiny", datasets=(DatasetEntry("none.yaml"),), pretrained=None)
    torch.manual_seed(0)
    model = build_model(config, folder)
    width, height = TINY_INPUT
    model_config = ModelConfig(name="tiny", version="0", preprocessing=Preprocessing(width, height))
    checkpoint = folder / "tiny.pt"
    torch.save(
        {"model": model.state_dict(), "optimiser": {}, "state": {}, "model_config": asdict(model_config)}, checkpoint
    )
    difference = export_onnx(checkpoint, folder / "tiny.onnx", name="tiny", version="0.0.1")
    assert difference < 1e-4
    return folder / "tiny.onnx"


def export_untrained_tooth_classifier(folder: Path) -> Path:
    """A random-init tooth classifier saved as training saves it, exported to ``folder/tiny-teeth.onnx`` (+ .json)."""
    torch = pytest.importorskip("torch", reason="exporting a model needs the [train] extra")
    from xrayreport.detection.tooth_findings import TASK, CropPreprocessing, ToothFindingsConfig
    from xrayreport.training.export import export_onnx
    from xrayreport.training.tooth_classifier import ToothClassifier

    torch.manual_seed(0)
    config = ToothFindingsConfig(name="tiny-teeth", version="0", preprocessing=CropPreprocessing(64, 128))
    checkpoint = folder / "tiny-teeth.pt"
    state = {"kind": TASK, "model": ToothClassifier().state_dict(), "model_config": asdict(config)}
    torch.save(state, checkpoint)
    assert export_onnx(checkpoint, folder / "tiny-teeth.onnx", name="tiny-teeth", version="0.0.1") < 1e-4
    return folder / "tiny-teeth.onnx"
