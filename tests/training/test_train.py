"""A tiny real training run: loss falls, checkpoints appear, resume continues, export matches torch."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from training.still_augmentation import STILL
from xrayreport.detection.detector import Detector
from xrayreport.findings import validate_findings_dict
from xrayreport.ingestion import load_scan
from xrayreport.training.export import export_onnx
from xrayreport.training.train import DatasetEntry, TrainConfig, build_model, pick_device, train

REPO = Path(__file__).resolve().parents[2]


def epochs(run: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_train_resume_export_and_analyze(datasets_dir: Path, tmp_path: Path) -> None:
    torch.set_num_threads(2)
    # Four UFBA-425 images (train and val), one step of batch 4 per epoch, at a small input size.
    config = TrainConfig(
        name="tiny",
        datasets=(DatasetEntry(config="ufba425.yaml", limit=4),),
        data_root=str(datasets_dir),
        input_width=256,
        input_height=128,
        epochs=3,
        batch_size=4,
        learning_rate=2e-3,
        warmup_steps=1,
        pretrained=None,
        workers=0,
        augment=STILL,
    )
    run = tmp_path / "run"
    summary = train(config, REPO / "datasets", run, device_name="cpu")
    assert sorted(p.name for p in run.iterdir()) == [
        "best.pt",
        "config.json",
        "last.pt",
        "metrics.jsonl",
        "summary.json",
    ]
    resolved = json.loads((run / "config.json").read_text())
    assert (resolved["train_images"], resolved["val_images"], resolved["device"]) == (4, 4, "cpu")
    assert resolved["model"]["preprocessing"]["input_width"] == 256
    losses = [record["loss"] for record in epochs(run)]
    assert [record["epoch"] for record in epochs(run)] == [1, 2, 3]
    # Same four images every step, nothing random: the training loss must fall at every step.
    assert losses[0] > losses[1] > losses[2] and losses[2] < 0.9 * losses[0], losses
    assert summary["best_val_loss"] == min(record["val_loss"] for record in epochs(run))

    # Resuming with one more epoch continues with epoch 4, it does not start again.
    train(replace(config, epochs=4), REPO / "datasets", run, resume=True, device_name="cpu")
    assert [record["epoch"] for record in epochs(run)] == [1, 2, 3, 4]
    assert torch.load(run / "last.pt", weights_only=False)["state"]["global_step"] == 4

    onnx = tmp_path / "tiny.onnx"
    assert export_onnx(run / "best.pt", onnx, name="tiny", version="0.0.1", trained_on=("ufba425",)) < 1e-4
    detector = Detector(onnx)
    assert detector.config.trained_on == ("ufba425",)
    findings = detector.analyze(load_scan(sorted((datasets_dir / "tufts" / "images").iterdir())[0]))
    validate_findings_dict(findings.to_dict())


def test_image_level_labels_teach_absent_and_somewhere(tmp_path: Path) -> None:
    import cv2
    import numpy as np

    from xrayreport.detection.config import OBJECT_CLASSES, Preprocessing
    from xrayreport.training.datasets import Annotation, Sample
    from xrayreport.training.train import DetectionDataset

    image = tmp_path / "scan.png"
    cv2.imwrite(str(image), np.full((64, 128), 90, np.uint8))
    tooth = Annotation((10.0, 10.0, 30.0, 50.0), "tooth", "11")
    # Teeth labelled, and the image's category says: no implant, no primary tooth (not a detector class).
    sample = Sample(image, (tooth,), frozenset({"tooth"}), "ufba425", absent=frozenset({"implant", "primary_tooth"}))
    item = DetectionDataset([sample], Preprocessing(128, 64), 4, None)[0]
    taught = {name for name, flag in zip(OBJECT_CLASSES, item["class_mask"].tolist(), strict=True) if flag}
    assert taught == {"tooth", "implant"}
    assert float(item["heatmap"][OBJECT_CLASSES.index("implant")].max()) == 0.0
    assert float(item["present_mask"].sum()) == 0.0
    # Category 5: an implant somewhere, not boxed; and a restoration, a class the detector has.
    holding = Sample(image, (tooth,), frozenset({"tooth"}), "ufba425", present=frozenset({"implant", "primary_tooth"}))
    item = DetectionDataset([holding], Preprocessing(128, 64), 4, None)[0]
    assert item["present_mask"].tolist() == [1.0 if c == "implant" else 0.0 for c in OBJECT_CLASSES]
    assert float(item["class_mask"][OBJECT_CLASSES.index("implant")]) == 0.0
    # somewhere_classes narrows what "present" teaches: a restoration somewhere teaches nothing here.
    both = replace(holding, present=frozenset({"implant", "restoration"}))
    item = DetectionDataset([both], Preprocessing(128, 64), 4, None, somewhere_classes=("implant",))[0]
    assert item["present_mask"].tolist() == [1.0 if c == "implant" else 0.0 for c in OBJECT_CLASSES]
    item = DetectionDataset([both], Preprocessing(128, 64), 4, None)[0]
    assert item["present_mask"].tolist() == [1.0 if c in ("implant", "restoration") else 0.0 for c in OBJECT_CLASSES]


def test_trainable_keeps_the_other_modules_and_their_batch_norm_statistics() -> None:
    config = TrainConfig(name="x", datasets=(), pretrained=None, trainable=("heatmap",))
    model = build_model(config, REPO)
    learning = {name.split(".")[0] for name, parameter in model.named_parameters() if parameter.requires_grad}
    assert learning == {"heatmap"}
    before = {name: value.clone() for name, value in model.state_dict().items()}
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    heatmap = model(torch.rand(2, 1, 64, 128))[0]
    heatmap.mean().backward()
    optimiser.step()
    changed = {name.split(".")[0] for name, value in model.state_dict().items() if not torch.equal(value, before[name])}
    # The backbone's batch norms stay in evaluation mode, so not even their running statistics move.
    assert changed == {"heatmap"}


def test_the_device_asked_for_is_the_one_training_uses() -> None:
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if torch.cuda.is_available():
        assert pick_device("cuda:0") == torch.device("cuda:0")
