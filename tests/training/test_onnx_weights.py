"""Reading a shipped model's ONNX weights back into its torch network, to fine-tune it."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import onnxruntime as ort
import pytest
import torch
from detection.tiny_model import TINY_INPUT
from torch import nn

from xrayreport.dentition import ALL_TEETH
from xrayreport.detection.config import OBJECT_CLASSES, ModelConfig, Preprocessing
from xrayreport.detection.tooth_findings import TASK, CropPreprocessing, ToothFindingsConfig
from xrayreport.errors import XrayReportError
from xrayreport.training.export import export_onnx
from xrayreport.training.model import CenterNetDetector
from xrayreport.training.onnx_weights import freeze_batch_norm, load_onnx_weights
from xrayreport.training.tooth_classifier import ToothClassifier

WIDTH, HEIGHT = TINY_INPUT


def fresh_detector() -> CenterNetDetector:
    torch.manual_seed(1)
    return CenterNetDetector(len(OBJECT_CLASSES), len(ALL_TEETH))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A detector export whose batch norms hold statistics of their own, so folding them changes the weights."""
    folder = tmp_path_factory.mktemp("onnx-weights")
    model = fresh_detector()
    generator = torch.Generator().manual_seed(2)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            size = module.num_features
            assert module.running_mean is not None and module.running_var is not None
            module.running_mean.copy_(torch.randn(size, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(size, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(size, generator=generator) * 0.1)
    config = ModelConfig(name="tiny", version="0", preprocessing=Preprocessing(WIDTH, HEIGHT))
    checkpoint = folder / "tiny.pt"
    torch.save({"model": model.state_dict(), "model_config": asdict(config)}, checkpoint)
    assert export_onnx(checkpoint, folder / "tiny.onnx", name="tiny", version="0.0.1") < 1e-4
    return folder / "tiny.onnx"


def test_a_detector_comes_back_with_the_exported_outputs(exported: Path) -> None:
    model = fresh_detector()
    example = torch.randn(1, 1, HEIGHT, WIDTH)
    assert load_onnx_weights(model, exported, example) < 1e-4
    # Another input than the one it was checked on: the weights, not one answer, came back.
    other = torch.randn(1, 1, HEIGHT, WIDTH)
    expected = ort.InferenceSession(str(exported)).run(None, {"image": other.numpy()})
    with torch.no_grad():
        got = model(other)
    for a, b in zip(got, expected, strict=True):
        assert torch.allclose(a, torch.from_numpy(b), atol=1e-4)


def test_folded_batch_norms_come_back_as_adding_the_bias(exported: Path) -> None:
    model = fresh_detector()
    load_onnx_weights(model, exported, torch.randn(1, 1, HEIGHT, WIDTH))
    first = model.backbone.features[0][1]
    assert isinstance(first, nn.BatchNorm2d)
    assert torch.all(first.weight == 1) and torch.all(first.running_mean == 0)
    # ...and the convolution before it holds the scale the export folded in: not the random weights it had.
    assert not torch.allclose(model.backbone.features[0][0].weight, fresh_detector().backbone.features[0][0].weight)
    assert torch.allclose(first.running_var + first.eps, torch.ones_like(first.running_var))


def test_another_network_is_refused_naming_the_file(exported: Path) -> None:
    classifier = ToothClassifier(4)
    with pytest.raises(XrayReportError, match=r"tiny\.onnx: .* convolutions, the network has"):
        load_onnx_weights(classifier, exported, torch.randn(2, 1, 256, 128))


def test_not_an_onnx_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "weights.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(XrayReportError, match="cannot read it as an ONNX model"):
        load_onnx_weights(fresh_detector(), bad, torch.randn(1, 1, HEIGHT, WIDTH))


def test_frozen_batch_norms_keep_their_statistics_through_a_training_step(exported: Path) -> None:
    model = fresh_detector()
    load_onnx_weights(model, exported, torch.randn(1, 1, HEIGHT, WIDTH))
    freeze_batch_norm(model)
    model.train()
    assert model.training and not any(m.training for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    before = model.smooth[1].running_mean.clone()
    heatmap, *_ = model(torch.randn(2, 1, HEIGHT, WIDTH) * 3 + 1)
    heatmap.mean().backward()
    assert torch.equal(model.smooth[1].running_mean, before)
    assert model.smooth[1].weight.grad is not None  # scale and shift still learn


def test_a_tooth_classifier_comes_back_too(tmp_path: Path) -> None:
    torch.manual_seed(3)
    model = ToothClassifier()
    config = ToothFindingsConfig(
        name="t", version="0", preprocessing=CropPreprocessing(input_width=64, input_height=128)
    )
    torch.save({"kind": TASK, "model": model.state_dict(), "model_config": asdict(config)}, tmp_path / "t.pt")
    assert export_onnx(tmp_path / "t.pt", tmp_path / "t.onnx", name="t", version="0.0.1") < 1e-4
    fresh = ToothClassifier()
    assert load_onnx_weights(fresh, tmp_path / "t.onnx", torch.randn(2, 1, 128, 64)) < 1e-4
    assert torch.equal(fresh.head.weight, model.head.weight)  # the linear layer, by its name
