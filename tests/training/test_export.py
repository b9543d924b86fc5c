"""``xrayreport export``: a checkpoint's JSON takes another model's thresholds and names its second stage."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from detection.tiny_model import TINY_INPUT

from training.test_command import one_error_line
from xrayreport.cli import main
from xrayreport.dentition import ALL_TEETH
from xrayreport.detection.config import OBJECT_CLASSES, ModelConfig, Preprocessing
from xrayreport.detection.tooth_findings import TASK, CropPreprocessing, ToothFindingsConfig
from xrayreport.training.model import CenterNetDetector
from xrayreport.training.tooth_classifier import ToothClassifier

SHIPPED = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small detector checkpoint (detector.pt) and a tooth classifier checkpoint (teeth.pt), untrained."""
    folder = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)
    detector = ModelConfig(name="d", version="0", preprocessing=Preprocessing(*TINY_INPUT))
    model = CenterNetDetector(len(OBJECT_CLASSES), len(ALL_TEETH))
    torch.save({"model": model.state_dict(), "model_config": asdict(detector)}, folder / "detector.pt")
    crops = CropPreprocessing(input_width=64, input_height=128)
    teeth = ToothFindingsConfig(name="t", version="0", preprocessing=crops)
    classifier = {"model": ToothClassifier().state_dict(), "model_config": asdict(teeth)}
    torch.save({"kind": TASK, **classifier}, folder / "teeth.pt")
    return folder


def test_a_fine_tuned_detector_keeps_the_shipped_thresholds_and_names_its_second_stage(
    checkpoints: Path, tmp_path: Path
) -> None:
    assert main(["export", str(checkpoints / "teeth.pt"), "-o", str(tmp_path / "teeth-new.onnx")]) == 0
    shipped = SHIPPED / "detector-v1.json"
    options = ["--thresholds-from", str(shipped), "--second-stage", "teeth-new.onnx", "--version", "2.0.0"]
    assert main(["export", str(checkpoints / "detector.pt"), "-o", str(tmp_path / "det.onnx"), *options]) == 0
    written = json.loads((tmp_path / "det.json").read_text())
    assert written["score_thresholds"] == json.loads(shipped.read_text())["score_thresholds"]
    assert written["second_stage"] == "teeth-new.onnx"
    assert (written["name"], written["version"]) == ("det", "2.0.0")
    # Without the options the checkpoint's own thresholds stay and no second stage is named.
    assert main(["export", str(checkpoints / "detector.pt"), "-o", str(tmp_path / "plain.onnx")]) == 0
    plain = json.loads((tmp_path / "plain.json").read_text())
    assert plain["score_thresholds"] == dict.fromkeys(OBJECT_CLASSES, 0.3) and plain["second_stage"] is None


def test_thresholds_of_a_model_with_other_classes_are_refused(
    checkpoints: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # tooth-findings-v1 has four outputs, a fresh classifier every class of the contract: its thresholds do not fit.
    options = ["--thresholds-from", str(SHIPPED / "tooth-findings-v1.json")]
    assert main(["export", str(checkpoints / "teeth.pt"), "-o", str(tmp_path / "t.onnx"), *options]) == 1
    assert "are not this model's" in one_error_line(capsys)
    assert not list(tmp_path.iterdir())


def test_wrong_thresholds_or_second_stage_are_one_line_and_write_nothing(
    checkpoints: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = ["-o", str(tmp_path / "det.onnx")]
    teeth_json = SHIPPED / "tooth-findings-v1.json"
    assert main(["export", str(checkpoints / "detector.pt"), *out, "--thresholds-from", str(teeth_json)]) == 1
    assert "tooth-findings-v1.json: invalid model configuration" in one_error_line(capsys)
    assert main(["export", str(checkpoints / "detector.pt"), *out, "--second-stage", "none.onnx"]) == 1
    assert "none.onnx: no .onnx file; export the tooth classifier beside the detector first" in one_error_line(capsys)
    assert main(["export", str(checkpoints / "teeth.pt"), *out, "--second-stage", "x.onnx"]) == 1
    assert "this checkpoint is a tooth classifier" in one_error_line(capsys)
    assert not list(tmp_path.iterdir())


def test_a_tooth_classifier_exports_only_the_outputs_named(checkpoints: Path, tmp_path: Path) -> None:
    import numpy as np
    import onnxruntime

    assert main(["export", str(checkpoints / "teeth.pt"), "-o", str(tmp_path / "all.onnx")]) == 0
    options = ["--classes", "restoration", "caries", "deep_caries"]  # kept in the model's order, not this one
    assert main(["export", str(checkpoints / "teeth.pt"), "-o", str(tmp_path / "some.onnx"), *options]) == 0
    written = json.loads((tmp_path / "some.json").read_text())
    assert written["classes"] == ["caries", "deep_caries", "restoration"]
    assert written["score_thresholds"] == {"caries": 0.5, "deep_caries": 0.5, "restoration": 0.5}
    crops = np.random.default_rng(0).standard_normal((2, 1, 128, 64)).astype(np.float32)
    (every,) = onnxruntime.InferenceSession(str(tmp_path / "all.onnx")).run(None, {"crops": crops})
    (some,) = onnxruntime.InferenceSession(str(tmp_path / "some.onnx")).run(None, {"crops": crops})
    columns = [json.loads((tmp_path / "all.json").read_text())["classes"].index(c) for c in written["classes"]]
    np.testing.assert_allclose(some, every[:, columns], atol=1e-5)


@pytest.mark.parametrize(
    ("checkpoint", "classes", "message"),
    [
        ("teeth.pt", ["caries", "crown"], "unknown tooth finding class 'crown'; valid tooth finding classes are: "),
        ("teeth.pt", ["deep_caries", "restoration"], "keep caries with it"),
        ("detector.pt", ["implant"], "--classes belongs to a tooth classifier's export"),
    ],
)
def test_outputs_that_cannot_be_kept_are_one_line_and_write_nothing(
    checkpoints: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    checkpoint: str,
    classes: list[str],
    message: str,
) -> None:
    assert main(["export", str(checkpoints / checkpoint), "-o", str(tmp_path / "x.onnx"), "--classes", *classes]) == 1
    assert message in one_error_line(capsys)
    assert not list(tmp_path.iterdir())
