"""A clinic's training export as a dataset: detector samples, per-tooth labels and crops, patients as groups."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest
import yaml

from xrayreport.detection.tooth_findings import TOOTH_FINDING_CLASSES
from xrayreport.errors import XrayReportError
from xrayreport.export import ExportedFinding, TrainingStudy, folder_writer, write_training_export
from xrayreport.training.clinic_export import read_export, tooth_labels_of
from xrayreport.training.datasets import load_dataset_config, load_split
from xrayreport.training.tooth_crops import load_crops, load_tooth_train_config, validate_source

REPO = Path(__file__).resolve().parents[2]
PUBLIC_DATA = REPO.parent / "shared" / "datasets"
T = TypeVar("T")
TEST_PATIENT = "0" * 20  # split_of: test
TRAIN_PATIENT = "f" * 20


def write_export(root: Path) -> None:
    def study(key: str, patient: str) -> TrainingStudy:
        return TrainingStudy(
            study_key=key,
            patient_key=patient,
            width=200,
            height=100,
            model=("detector-v1", "1.2.0"),
            covered=frozenset({"tooth", "caries", "restoration", "implant"}),
            teeth=(("36", (10.0, 10.0, 40.0, 60.0)), ("37", (50.0, 10.0, 80.0, 60.0)), ("38", None)),
            findings=(
                ExportedFinding("deep_caries", "36", (15.0, 15.0, 30.0, 30.0)),
                ExportedFinding("periapical_lesion", "36", (15.0, 50.0, 30.0, 70.0), "dentist"),
            ),
            rejected=(ExportedFinding("root_canal", "37", (55.0, 15.0, 70.0, 50.0)),),
            pixels=lambda: np.full((100, 200), 80, np.uint8),
        )

    write_training_export([study("a" * 20, TEST_PATIENT), study("b" * 20, TRAIN_PATIENT)], folder_writer(root))


def dataset_yaml(folder: Path, **extra: object) -> Path:
    path = folder / "clinic.yaml"
    path.write_text(yaml.safe_dump({"name": "clinic", "format": "xrayreport-export", "root": "clinic", **extra}))
    return path


def test_detector_samples_teach_what_the_review_covered(tmp_path: Path) -> None:
    write_export(tmp_path / "clinic")
    config = load_dataset_config(dataset_yaml(tmp_path), tmp_path)
    (sample,) = load_split(config, "test")
    assert sample.group == TEST_PATIENT and sample.source == "clinic"
    assert sample.labelled == {"tooth", "caries", "restoration", "implant"}  # covered, among the detector's classes
    assert sorted((a.label, a.fdi) for a in sample.annotations) == [("caries", None), ("tooth", "36"), ("tooth", "37")]
    assert sample.present == {"caries"} and sample.absent == {"restoration", "implant"}
    # The YAML's labelled narrows what the export covers.
    narrow = load_dataset_config(dataset_yaml(tmp_path, labelled=["tooth", "restoration"]), tmp_path)
    (sample,) = load_split(narrow, "train")
    assert sample.labelled == {"tooth", "restoration"} and sample.absent == {"restoration"} and not sample.present


def test_tooth_labels_come_from_the_findings_teeth_and_the_rejections(tmp_path: Path) -> None:
    write_export(tmp_path / "clinic")
    scan = read_export(tmp_path / "clinic")["a" * 20]
    # 36: deep caries and a lesion (not covered, but found); restoration and implant covered and not on it.
    assert tooth_labels_of(scan, "36", TOOTH_FINDING_CLASSES) == {
        "caries": 1,
        "deep_caries": 1,
        "periapical_lesion": 1,
        "restoration": 0,
        "implant": 0,
    }
    # 37: nothing found; the rejected root canal filling is an explicit negative for root canals.
    assert tooth_labels_of(scan, "37", TOOTH_FINDING_CLASSES) == {
        "caries": 0,
        "restoration": 0,
        "root_canal": 0,
        "implant": 0,
    }


def test_the_second_stage_gets_a_crop_of_every_tooth_with_a_box(tmp_path: Path) -> None:
    write_export(tmp_path / "clinic")
    dataset_yaml(tmp_path)
    source = validate_source({"name": "clinic", "type": "clinic-export", "dataset": "clinic.yaml"})
    crops = load_crops(source, "test", tmp_path, tmp_path, None)
    assert [c.scan for c in crops] == [f"clinic/{'a' * 20}"] * 2
    assert crops[0].labels["deep_caries"] == 1 and crops[1].labels["root_canal"] == 0
    assert crops[0].pixels.shape == (73, 46)  # the 30 x 50 tooth with a quarter of context, cut at the top edge


def test_a_dataset_root_can_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_export(tmp_path / "clinic")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XRAYREPORT_CLINIC_EXPORT", "clinic")  # relative to the current folder, not to data_root
    shipped = REPO / "datasets" / "clinic-export.yaml"
    config = load_dataset_config(shipped, tmp_path / "elsewhere")
    assert config.root == tmp_path / "clinic" and config.split_file == tmp_path / "clinic" / "split.json"
    assert [s.group for s in load_split(config, "test")] == [TEST_PATIENT]
    monkeypatch.delenv("XRAYREPORT_CLINIC_EXPORT")
    with pytest.raises(XrayReportError) as raised:
        load_dataset_config(shipped, tmp_path)
    assert str(raised.value) == (
        f"{shipped}: ${{XRAYREPORT_CLINIC_EXPORT}} needs the environment variable XRAYREPORT_CLINIC_EXPORT; "
        "set it, e.g. XRAYREPORT_CLINIC_EXPORT=/path/to/it"
    )


# Ten patients, one scan each; the first hex digits of their keys put two in test, one in val, seven in train.
CLINIC_PATIENTS = {"test": "02", "val": "4", "train": "6789abc"}
UPPER, LOWER = ("18", "17", "16", "15", "25", "26", "27", "28"), ("48", "47", "46", "45", "35", "36", "37", "38")


def generated_study(number: int, patient: str) -> TrainingStudy:
    """A 640 x 320 scan of 16 bright teeth on a grey ground, caries (a dark spot) on 36 and a rejected filling."""
    teeth = []
    pixels = np.full((320, 640), 60, np.uint8)
    for row, names in ((40, UPPER), (170, LOWER)):
        for column, fdi in enumerate(names):
            x = 80 + column * 62 + (20 if column > 3 else 0)
            teeth.append((fdi, (float(x), float(row), float(x + 44), float(row + 110))))
            pixels[row : row + 110, x : x + 44] = 170 + number
    boxes = dict(teeth)
    caries = (boxes["36"][0] + 10, boxes["36"][1] + 10, boxes["36"][0] + 30, boxes["36"][1] + 30)
    pixels[int(caries[1]) : int(caries[3]), int(caries[0]) : int(caries[2])] = 90
    return TrainingStudy(
        study_key=f"{number:020x}",
        patient_key=patient * 20,
        width=640,
        height=320,
        model=("detector-v1", "1.2.0"),
        covered=frozenset({"tooth", "caries", "deep_caries", "restoration", "implant"}),
        teeth=tuple(teeth),
        findings=(ExportedFinding("caries", "36", caries),),
        rejected=(ExportedFinding("filling", "46", boxes["46"]),),
        pixels=lambda: pixels,
    )


def _runnable_here(entries: list[T], is_clinic: Callable[[T], bool], limit: Callable[[T], T]) -> list[T]:
    """The shipped recipe's entries with a limit each (seconds, not hours): the clinic's, and the public sources
    where this machine has them (../shared/datasets; without it the recipe runs on the clinic's export alone)."""
    return [limit(e) for e in entries if is_clinic(e) or (PUBLIC_DATA / "tufts").is_dir()]


@pytest.mark.slow
def test_the_shipped_clinic_recipes_fine_tune_export_and_compare_on_the_held_back_patients(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    torch = pytest.importorskip("torch", reason="fine-tuning needs the [train] extra")
    from training.still_augmentation import STILL
    from xrayreport.cli import main
    from xrayreport.training.export import export_onnx
    from xrayreport.training.tooth_classifier import train_tooth_classifier
    from xrayreport.training.train import load_train_config, train

    torch.set_num_threads(2)
    studies = [p for keys in CLINIC_PATIENTS.values() for p in keys]
    write_training_export([generated_study(n, p) for n, p in enumerate(studies)], folder_writer(tmp_path / "export"))
    monkeypatch.setenv("XRAYREPORT_CLINIC_EXPORT", str(tmp_path / "export"))
    runs, new = tmp_path / "runs", tmp_path / "new"

    # The detector recipe: from detector-v1's weights, the clinic's train and val studies only.
    config, base = load_train_config(REPO / "configs" / "clinic-finetune-detector.yaml")
    assert (base / str(config.initial_weights)).resolve() == REPO / "models" / "detector-v1.onnx"
    assert [Path(e.config).name for e in config.datasets][:2] == ["clinic-export.yaml", "tufts.yaml"]
    entries = _runnable_here(list(config.datasets), lambda e: "clinic" in e.config, lambda e: replace(e, limit=1))
    config = replace(config, datasets=tuple(entries), epochs=1, batch_size=4, workers=0, augment=STILL)
    train(config, base, runs / "detector", device_name="cpu")
    resolved = json.loads((runs / "detector" / "config.json").read_text())
    assert resolved["device"] == "cpu" and resolved["val_images"] == len(entries)  # 1 val patient, 1 per public source

    # The second stage's recipe: from tooth-findings-v1's weights, the clinic's teeth as crops.
    tooth_config, tooth_base = load_tooth_train_config(REPO / "configs" / "clinic-finetune-tooth-findings.yaml")
    assert (tooth_base / str(tooth_config.initial_weights)).resolve() == REPO / "models" / "tooth-findings-v1.onnx"
    sources = _runnable_here(
        list(tooth_config.sources), lambda s: s.type == "clinic-export", lambda s: replace(s, limit=1)
    )
    tooth_config = replace(tooth_config, sources=tuple(sources), epochs=1, samples_per_epoch=16, batch_size=8)
    train_tooth_classifier(tooth_config, tooth_base, runs / "teeth", device_name="cpu")
    export_onnx(
        runs / "teeth" / "best.pt", new / "tooth-findings-clinic.onnx", name="tooth-findings-clinic", version="1.0.0"
    )
    # The candidate pipeline, as docs/learning.md exports it: the new detector with the shipped one's thresholds
    # and the new second stage.
    shipped = REPO / "models" / "detector-v1.json"
    export = ["export", str(runs / "detector" / "best.pt"), "-o", str(new / "detector-clinic.onnx")]
    options = ["--version", "1.0.0", "--thresholds-from", str(shipped), "--second-stage", "tooth-findings-clinic.onnx"]
    assert main([*export, *options]) == 0
    candidate = json.loads((new / "detector-clinic.json").read_text())
    assert candidate["score_thresholds"] == json.loads(shipped.read_text())["score_thresholds"]
    assert candidate["second_stage"] == "tooth-findings-clinic.onnx" and candidate["name"] == "detector-clinic"

    # Compared with the shipped pipeline on the export's held-back patients, under the workspace's rule.
    capsys.readouterr()
    rule = REPO / "xrayreport" / "training" / "clinic-compare-rule.yaml"
    command = ["evaluate", "--compare", str(REPO / "models" / "detector-v1.onnx"), str(new / "detector-clinic.onnx")]
    options = ["--datasets", str(REPO / "datasets" / "clinic-export.yaml"), "--split", "test", "--rule", str(rule)]
    assert main([*command, *options, "--out", str(tmp_path / "compare")]) == 0
    out, err = capsys.readouterr()
    assert "measuring" in err and "on 2 images" in err  # the two held-back patients' scans, nothing trained on
    assert out.splitlines()[-1].startswith(("adopt detector-clinic: ", "keep detector-v1: "))
    compared = json.loads((tmp_path / "compare" / "compare-test.json").read_text())
    assert compared["figures"]["teeth_f1"]["old"] is not None and "verdict" in compared
