"""The training export's format: records, the split by patient, random image names, folder and ZIP alike."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from xrayreport.errors import XrayReportError
from xrayreport.export import (
    TRAINING_EXPORT_FORMAT,
    ExportedFinding,
    TrainingStudy,
    folder_writer,
    split_of,
    write_training_export,
    write_training_zip,
)


def study(key: str, patient: str) -> TrainingStudy:
    return TrainingStudy(
        study_key=key,
        patient_key=patient,
        width=64,
        height=32,
        model=("detector-v1", "1.2.0"),
        covered=frozenset({"caries", "tooth"}),
        teeth=(("36", (1.0, 2.0, 10.0, 20.0)),),
        findings=(
            ExportedFinding("caries", "36", (2.0, 3.0, 5.0, 6.0)),
            ExportedFinding("deep_caries", "36", None, "relabelled", "caries"),
            ExportedFinding("filling", None, (20.0, 3.0, 25.0, 6.0), "dentist"),
        ),
        rejected=(ExportedFinding("caries", "37", (30.0, 3.0, 35.0, 6.0)),),
        pixels=lambda: np.full((32, 64), 7, np.uint8),
    )


def test_the_split_follows_the_patient_key_alone() -> None:
    assert split_of("00000000aa") == "test"  # 0 / 16**8
    assert split_of("33333333aa") == "test"  # 0.2 - 1e-9
    assert split_of("34000000aa") == "val"  # 0.203
    assert split_of("4cccccccaa") == "val"  # 0.3 - 1e-9
    assert split_of("4d000000aa") == "train"  # 0.301
    assert split_of("ffffffffff") == "train"


def test_a_folder_export_holds_records_images_split_and_manifest(tmp_path: Path) -> None:
    counts = write_training_export([study("a" * 20, "0" * 20), study("b" * 20, "f" * 20)], folder_writer(tmp_path))
    assert counts == {"train": 1, "val": 0, "test": 1}
    assert json.loads((tmp_path / "split.json").read_text()) == {"train": ["b" * 20], "val": [], "test": ["a" * 20]}
    record = json.loads((tmp_path / "studies" / f"{'a' * 20}.json").read_text())
    assert record["format"] == TRAINING_EXPORT_FORMAT and record["split"] == "test"
    assert record["covered"] == ["tooth", "caries"]  # in the order of TRAINING_CLASSES
    assert record["findings"][1] == {
        "type": "deep_caries",
        "tooth": "36",
        "box": None,
        "origin": "relabelled",
        "model_type": "caries",
    }
    assert record["rejected"] == [{"type": "caries", "tooth": "37", "box": [30.0, 3.0, 35.0, 6.0]}]
    image = tmp_path / record["image"]["file"]
    assert image.parent.name == "images" and len(image.stem) == 20 and image.stem not in ("a" * 20, "0" * 20)
    assert cv2.imread(str(image), cv2.IMREAD_UNCHANGED).shape == (32, 64)
    assert json.loads((tmp_path / "manifest.json").read_text())["studies"] == counts


def test_an_export_never_writes_into_a_folder_holding_something(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(XrayReportError, match="not empty"):
        folder_writer(tmp_path)


def test_the_zip_holds_the_same_files() -> None:
    buffer = io.BytesIO()
    write_training_zip([study("c" * 20, "9" * 20)], buffer)
    names = sorted(zipfile.ZipFile(buffer).namelist())
    assert names[0].startswith("images/") and names[1:] == ["manifest.json", "split.json", f"studies/{'c' * 20}.json"]


def test_a_study_whose_pixels_are_withheld_is_left_out_and_listed(tmp_path: Path) -> None:
    withheld = dataclasses.replace(study("d" * 20, "0" * 20), pixels_withheld="its pixels may show a name")
    counts = write_training_export([withheld, study("e" * 20, "f" * 20)], folder_writer(tmp_path))
    assert counts == {"train": 1, "val": 0, "test": 0}
    assert sorted(p.name for p in (tmp_path / "studies").iterdir()) == [f"{'e' * 20}.json"]
    assert len(list((tmp_path / "images").iterdir())) == 1
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["left_out"] == [{"study": "d" * 20, "reason": "its pixels may show a name"}]
