"""A clinic's training export as a dataset: detector samples, per-tooth labels and crops, patients as groups."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from xrayreport.detection.tooth_findings import TOOTH_FINDING_CLASSES
from xrayreport.export import ExportedFinding, TrainingStudy, folder_writer, write_training_export
from xrayreport.training.clinic_export import read_export, tooth_labels_of
from xrayreport.training.datasets import load_dataset_config, load_split
from xrayreport.training.tooth_crops import load_crops, validate_source

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
