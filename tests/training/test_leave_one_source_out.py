"""Leave-one-source-out: folds, the recipe without them, and a tiny fold scored epoch by epoch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from xrayreport.errors import XrayReportError
from xrayreport.training.leave_one_source_out import fold_config, folds_of, held_out_config
from xrayreport.training.tooth_crops import ToothTrainConfig, validate_source

REPO = Path(__file__).resolve().parents[2]


def recipe(**fields: object) -> ToothTrainConfig:
    sources = tuple(
        validate_source({"name": name, "type": "teeth", "negatives_per_image": 3}) for name in ("a", "b", "c")
    )
    return ToothTrainConfig(name="r", sources=sources, **fields)  # type: ignore[arg-type]


def test_folds_are_one_per_source_or_the_yamls_and_name_real_sources() -> None:
    assert folds_of(recipe()) == {"a": ("a",), "b": ("b",), "c": ("c",)}
    assert folds_of(recipe(folds={"a-b": ("a", "b")})) == {"a-b": ("a", "b")}
    with pytest.raises(
        XrayReportError, match="fold 'x' leaves out 'z', which is not a source of the recipe; its sources are: a, b, c"
    ):
        folds_of(recipe(folds={"x": ("a", "z")}))


def test_a_fold_trains_on_the_rest_and_is_scored_on_every_tooth_of_the_left_out() -> None:
    config = recipe(folds={"a-b": ("a", "b")})
    training = fold_config(config, "a-b", ("a", "b"))
    assert [s.name for s in training.sources] == ["c"] and training.name == "r-without-a-b" and training.folds is None
    held_out = held_out_config(config, ("a", "b"), limit=2)
    assert [(s.name, s.negatives_per_image, s.limit) for s in held_out.sources] == [("a", None, 2), ("b", None, 2)]
    with pytest.raises(XrayReportError, match="leaves no source to train on"):
        fold_config(config, "all", ("a", "b", "c"))


@pytest.mark.slow
def test_every_epoch_of_a_fold_is_scored_on_the_source_left_out(
    datasets_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """16 DENTEX crops teach; one Tufts scan per split is left out; two epochs, each scored there."""
    torch = pytest.importorskip("torch", reason="training needs the [train] extra")
    from xrayreport.cli import main

    torch.set_num_threads(2)
    tufts = {
        "name": "tufts",
        "type": "teeth",
        "dataset": str(REPO / "datasets" / "tufts.yaml"),
        "teeth": "labelled",
        "lesions": {
            "file": "tufts/abnormalities_expert.json",
            "classes": {"Periapical": "periapical_lesion"},
            "frame": [1615, 840],
        },
    }
    dentex = {
        "name": "dentex-crops",
        "type": "crop-folder",
        "root": "dentex-crops",
        "splits": {"train": "train", "validation": "val"},
        "labels": {"Caries": {"caries": 1}, "Impacted": {"caries": 0}, "PeriapicalLesion": {"periapical_lesion": 1}},
        "limit": 16,
    }
    config = {
        "kind": "tooth-findings",
        "name": "tiny",
        "data_root": str(datasets_dir),
        "input_width": 64,
        "input_height": 128,
        "samples_per_epoch": 16,
        "batch_size": 16,
        "warmup_steps": 1,
        "pretrained": None,
        "augment": False,
        "sources": [dentex, tufts],
    }
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "loso"
    command = ["evaluate", "--leave-one-source-out", str(tmp_path / "tiny.yaml"), "--out", str(out)]
    options = ["--fold", "tufts", "--epochs", "2", "--limit", "1", "--device", "cpu", "--every-epoch"]
    assert main([*command, *options]) == 0

    fold = out / "tufts"
    assert sorted(p.name for p in fold.glob("epoch-*")) == ["epoch-1", "epoch-2"]
    epochs = [json.loads((fold / f"epoch-{n}" / "metrics.json").read_text()) for n in (1, 2)]
    assert [(e["epoch"], e["left_out"], e["trained_on"]) for e in epochs] == [
        (1, ["tufts"], ["dentex-crops"]),
        (2, ["tufts"], ["dentex-crops"]),
    ]
    assert all(e["per_scan"]["tufts"]["scans"] == 3 for e in epochs)  # one scan of each split
    # The kept model is the epoch with the best in-source validation: the same weights, the same figures.
    records = [json.loads(line) for line in (fold / "run" / "metrics.jsonl").read_text().splitlines()]
    best = max(records, key=lambda r: r["val_mean_ap"])
    kept = json.loads((fold / "metrics.json").read_text())
    assert kept["per_scan"] == epochs[best["epoch"] - 1]["per_scan"]
    table = (out / "summary.md").read_text()
    for epoch in (1, 2):
        assert f"| tufts | {epoch} | {records[epoch - 1]['val_mean_ap']:.3f} | tufts |" in table

    # Run again: nothing trained or scored twice.
    scored = [(fold / f"epoch-{n}" / "metrics.json").stat().st_mtime_ns for n in (1, 2)]
    capsys.readouterr()
    assert main([*command, *options]) == 0
    assert [(fold / f"epoch-{n}" / "metrics.json").stat().st_mtime_ns for n in (1, 2)] == scored
    assert "training without" not in capsys.readouterr().err
