"""The ONNX detector end to end on real panoramics: Radiograph in, a valid findings document out.

The model here has random initial weights, so these tests check the contract (coordinates, unique
numbers, a valid document, clear errors), not what an untrained network finds.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from ingestion.dicom_factory import make_dicom

from xrayreport.dentition import PERMANENT_TEETH
from xrayreport.detection.detector import Detector
from xrayreport.errors import XrayReportError
from xrayreport.findings import validate_findings_dict
from xrayreport.ingestion import load_scan


@pytest.fixture(scope="module")
def detector(tiny_model: Path) -> Detector:
    return Detector(tiny_model, threads=1)


def test_the_model_json_travels_with_the_onnx_file(detector: Detector) -> None:
    config = detector.config
    assert (config.name, config.version) == ("tiny", "0.0.1")
    assert (config.preprocessing.input_width, config.preprocessing.input_height) == (320, 160)
    assert config.classes == ("tooth", "caries", "restoration", "impacted", "implant")
    assert len(config.fdi_classes) == 52


def test_analyze_a_real_panoramic_gives_a_valid_document(detector: Detector, datasets_dir: Path) -> None:
    path = sorted((datasets_dir / "tufts" / "images").iterdir())[0]
    radiograph = load_scan(path)
    findings = detector.analyze(radiograph)
    data = findings.to_dict()
    validate_findings_dict(data)
    assert data["image"] == {
        "width": 1024,
        "height": 533,
        "sha256": radiograph.sha256,
        "source": path.name,
        "pixel_spacing_mm": None,
    }
    assert data["model"] == {"name": "tiny", "version": "0.0.1"}
    assert "patient" not in data and "study" not in data  # a JPEG carries no identity
    assert findings.quality is not None


def test_nothing_above_threshold_means_every_tooth_not_seen_and_an_unusable_verdict(
    tiny_model: Path, datasets_dir: Path
) -> None:
    radiograph = load_scan(sorted((datasets_dir / "tufts" / "images").iterdir())[0])
    strict = Detector(tiny_model)
    assert strict.detect(radiograph.pixels, dict.fromkeys(strict.config.classes, 1.01)) == []
    strict.config = replace(strict.config, score_thresholds=dict.fromkeys(strict.config.classes, 1.01))
    findings = strict.analyze(radiograph)
    assert findings.teeth == ()
    assert [f.tooth for f in findings.findings] == list(PERMANENT_TEETH)
    assert findings.quality is not None and findings.quality.verdict == "unusable"


@pytest.mark.parametrize("folder", ["tufts", "ufba425", "dental-radiography", "dc1000-subset"])
def test_every_detection_lies_inside_the_original_image_even_at_threshold_zero(
    detector: Detector, datasets_dir: Path, folder: str
) -> None:
    radiograph = load_scan(sorted((datasets_dir / folder / "images").iterdir())[0])
    detections = detector.detect(radiograph.pixels, dict.fromkeys(detector.config.classes, 0.0))
    # max_detections per class, some dropped when a box falls entirely into the padding.
    assert 0 < len(detections) <= detector.config.max_detections * len(detector.config.classes)
    for d in detections:
        x1, y1, x2, y2 = d.box
        assert 0 <= x1 < x2 <= radiograph.width and 0 <= y1 < y2 <= radiograph.height, d
        assert 0.0 <= d.score <= 1.0
        assert (d.fdi_probabilities is not None) == (d.label == "tooth")


def test_patient_and_study_come_from_the_dicom(detector: Detector) -> None:
    findings = detector.analyze(load_scan(make_dicom(bits_stored=16), name="scan.dcm"))
    validate_findings_dict(findings.to_dict())
    assert findings.patient is not None and findings.patient.id == "P-0042"
    assert findings.study is not None and findings.study.modality == "PX"


def test_a_missing_model_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(XrayReportError, match=r"not found at .*nowhere\.onnx; pass --model"):
        Detector(tmp_path / "nowhere.onnx")


def test_a_model_without_its_json_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    shutil.copy(tiny_model, tmp_path / "lonely.onnx")
    with pytest.raises(XrayReportError, match=r"lonely\.json: model configuration not found"):
        Detector(tmp_path / "lonely.onnx")


def test_a_damaged_model_is_refused_with_one_clear_error(tiny_model: Path, tmp_path: Path) -> None:
    (tmp_path / "broken.onnx").write_bytes(tiny_model.read_bytes()[:1000])
    shutil.copy(tiny_model.with_suffix(".json"), tmp_path / "broken.json")
    with pytest.raises(XrayReportError, match=r"broken\.onnx: cannot load the ONNX model"):
        Detector(tmp_path / "broken.onnx")


@pytest.mark.parametrize("module", ["xrayreport.detection.detector", "xrayreport.training.evaluate"])
def test_inference_and_evaluation_do_not_import_torch(module: str) -> None:
    code = f"import sys, {module}; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
