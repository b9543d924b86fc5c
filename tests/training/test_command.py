"""``xrayreport train``, ``export`` and ``evaluate`` from the command line: refusals are one line, no traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from xrayreport.cli import main
from xrayreport.training.evaluate import DISABLED

REPO = Path(__file__).resolve().parents[2]


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("xrayreport: error: "), err
    return err


def test_choosing_thresholds_on_the_test_split_is_refused(tmp_path: Path, capsys) -> None:
    # Refused before anything is loaded: the model need not even exist.
    assert main(["evaluate", str(tmp_path / "any.onnx"), "--split", "test", "--choose-thresholds"]) == 1
    assert "chosen on the validation split, never on test" in one_error_line(capsys)


def test_keeping_a_shipped_models_recall_needs_choose_thresholds(capsys) -> None:
    shipped = str(REPO / "models" / "tooth-findings-v1.onnx")
    assert main(["evaluate", shipped, "--split", "val", "--same-recall-as", shipped]) == 1
    assert "--same-recall-as goes with --choose-thresholds" in one_error_line(capsys)


def test_tuning_a_class_on_named_sources_needs_choose_thresholds_and_names_that_exist(capsys) -> None:
    shipped = str(REPO / "models" / "tooth-findings-v1.onnx")
    assert main(["evaluate", shipped, "--split", "val", "--tune-on", "caries=dc1000"]) == 1
    assert "--tune-on goes with --choose-thresholds" in one_error_line(capsys)
    assert main(["evaluate", shipped, "--split", "val", "--choose-thresholds", "--tune-on", "caries=dc100"]) == 1
    assert "unknown source 'dc100'; valid sources are: dc1000, dental-radiography, dentex-crops" in one_error_line(
        capsys
    )


def test_tooth_findings_models_are_compared_without_a_detectors_rule(capsys) -> None:
    shipped = str(REPO / "models" / "tooth-findings-v1.onnx")
    rule = str(REPO / "configs" / "evaluation" / "compare-rule.yaml")
    assert main(["evaluate", "--compare", shipped, shipped, "--rule", rule]) == 1
    assert "--rule judges two detectors' pipelines" in one_error_line(capsys)
    detector = str(REPO / "models" / "detector-v1.onnx")
    assert main(["evaluate", "--compare", detector, shipped]) == 1
    assert "detector-v1.onnx is not a tooth findings model" in one_error_line(capsys)


def test_training_into_an_existing_run_needs_resume(tmp_path: Path) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text("name: tiny\ndatasets: [{config: tufts.yaml}]\n")
    (tmp_path / "runs" / "tiny").mkdir(parents=True)
    (tmp_path / "runs" / "tiny" / "last.pt").write_bytes(b"a previous run")
    command = [sys.executable, "-m", "xrayreport", "train", str(config), "--out", str(tmp_path / "runs")]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr == (
        f"xrayreport: error: {tmp_path / 'runs' / 'tiny'} already holds a run; "
        "pass --resume to continue it or --out for a new folder\n"
    )
    assert (tmp_path / "runs" / "tiny" / "last.pt").read_bytes() == b"a previous run"


def test_keeping_every_epoch_is_refused_for_the_detector(tmp_path: Path, capsys) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text("name: tiny\ndatasets: [{config: tufts.yaml}]\n")
    assert main(["train", str(config), "--out", str(tmp_path / "runs"), "--every-epoch"]) == 1
    assert "--every-epoch is for a tooth findings YAML" in one_error_line(capsys)
    assert not (tmp_path / "runs").exists()


def test_keeping_every_epoch_reaches_the_tooth_training(tmp_path: Path, monkeypatch) -> None:
    import xrayreport.training.tooth_classifier as tooth_classifier

    received = {}

    def record(config, base, run_dir, **options):
        received.update(options, name=config.name)
        return {}

    monkeypatch.setattr(tooth_classifier, "train_tooth_classifier", record)
    config = REPO / "configs" / "tooth-findings-v1.yaml"
    assert main(["train", str(config), "--out", str(tmp_path), "--every-epoch", "--device", "cpu"]) == 0
    assert received == {"name": "tooth-findings-v1", "keep_every_epoch": True, "resume": False, "device_name": "cpu"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\ndatasets: [{config: a.yaml, weight: 2}]\n", "valid keys of DatasetEntry are: config, repeat, limit"),
        ("name: x\n", "needs a 'name' and a 'datasets' list"),
        ("name: x\ndatasets: [{config: a.yaml}]\naugment: {flipp: 1}\n", "valid keys of AugmentConfig are: flip, "),
        ("name: x\ndatasets: [{config: a.yaml}]\nepochz: 3\n", "valid keys of TrainConfig are: name, datasets, "),
        ("[1, 2\n", "not valid YAML"),
        (
            "name: x\ndatasets: [{config: a.yaml}]\ntrainable: [heatmap, head]\n",
            "trainable names head; valid names are: backbone, lateral, smooth, heatmap, fdi, size, offset",
        ),
        (
            "name: x\ndatasets: [{config: a.yaml}]\nsomewhere_classes: [implants]\n",
            "somewhere_classes names implants; valid names are: tooth, caries, restoration, impacted, implant",
        ),
    ],
)
def test_a_malformed_training_config_is_one_line(tmp_path: Path, capsys, text: str, message: str) -> None:
    (tmp_path / "bad.yaml").write_text(text)
    assert main(["train", str(tmp_path / "bad.yaml"), "--out", str(tmp_path / "runs")]) == 1
    assert message in one_error_line(capsys)
    assert not (tmp_path / "runs").exists()


def test_missing_files_are_one_line(tmp_path: Path, capsys) -> None:
    assert main(["train", str(tmp_path / "none.yaml")]) == 1
    assert "training configuration not found" in one_error_line(capsys)
    assert main(["export", str(tmp_path / "none.pt"), "-o", str(tmp_path / "m.onnx")]) == 1
    assert "checkpoint not found; train first" in one_error_line(capsys)
    (tmp_path / "garbage.pt").write_text("not a checkpoint")
    assert main(["export", str(tmp_path / "garbage.pt"), "-o", str(tmp_path / "m.onnx")]) == 1
    assert "garbage.pt: cannot be read as a checkpoint" in one_error_line(capsys)
    torch.save({"weights": {}}, tmp_path / "other.pt")
    assert main(["export", str(tmp_path / "other.pt"), "-o", str(tmp_path / "m.onnx")]) == 1
    assert "other.pt: not a checkpoint written by xrayreport train" in one_error_line(capsys)
    assert not (tmp_path / "m.onnx").exists()
    assert main(["evaluate", str(tmp_path / "none.onnx"), "--split", "val"]) == 1
    assert "detection model not found" in one_error_line(capsys)


def test_evaluate_and_choose_thresholds_on_a_few_validation_images(
    tiny_model: Path, datasets_dir: Path, tmp_path: Path, capsys
) -> None:
    model = tmp_path / "model.onnx"
    shutil.copy(tiny_model, model)
    shutil.copy(tiny_model.with_suffix(".json"), model.with_suffix(".json"))
    args = ["--datasets", str(REPO / "datasets" / "ufba425.yaml"), "--data-root", str(datasets_dir), "--limit", "2"]
    code = main(["evaluate", str(model), "--split", "val", *args, "--choose-thresholds", "--out", str(tmp_path / "m")])
    assert code == 0
    metrics = json.loads((tmp_path / "m" / "metrics-val.json").read_text())
    assert metrics["images"] == 2 and metrics["teeth"]["images"] == 2
    assert set(metrics["teeth"]) >= {"precision", "recall", "f1", "ap50", "numbering_accuracy"}
    assert len(metrics["missing"]["positions"]) == 32
    assert "caries" not in metrics  # UFBA-425 labels no caries: it is not scored on them
    # An untrained model matches no tooth: no confusion plot is drawn rather than an empty one.
    assert (tmp_path / "m" / "fdi-confusion-val.png").exists() == bool(metrics["teeth"]["matched"])
    # The thresholds chosen on val are stored with the model; the tooth one comes from the candidates.
    stored = json.loads(model.with_suffix(".json").read_text())["score_thresholds"]
    # An untrained model may reach the precision floor at no threshold: then the class is disabled.
    assert stored == metrics["thresholds"] and (0.1 <= stored["tooth"] < 0.9 or stored["tooth"] == DISABLED)
    assert stored["caries"] == 0.3  # nothing to choose it from: left as shipped
    out = capsys.readouterr().out
    assert out.startswith("chose thresholds on val: ")


def test_evaluate_a_tooth_findings_model_per_tooth_and_choose_its_thresholds(
    tiny_tooth_classifier: Path, datasets_dir: Path, tmp_path: Path, capsys
) -> None:
    model = tmp_path / "teeth.onnx"
    shutil.copy(tiny_tooth_classifier, model)
    shutil.copy(tiny_tooth_classifier.with_suffix(".json"), model.with_suffix(".json"))
    shipped = yaml.safe_load((REPO / "configs" / "tooth-findings-v1.yaml").read_text())
    # DENTEX crops and Tufts teeth need no detector.
    named = {source["name"]: source for source in shipped["sources"]}
    small = {**shipped, "sources": [named["dentex-crops"], named["tufts"]], "data_root": str(datasets_dir)}
    small["sources"][1] = {**small["sources"][1], "dataset": str(REPO / "datasets" / "tufts.yaml")}
    (tmp_path / "small.yaml").write_text(yaml.safe_dump(small))
    args = ["--crops", str(tmp_path / "small.yaml"), "--limit", "3", "--out", str(tmp_path / "m")]
    assert main(["evaluate", str(model), "--split", "val", "--choose-thresholds", *args]) == 0
    metrics = json.loads((tmp_path / "m" / "metrics-val.json").read_text())
    assert metrics["split"] == "val" and metrics["teeth"] > 3
    assert set(metrics["classes"]["caries"]) == {"all", "dentex-crops"}  # Tufts says nothing about caries
    assert "tufts" in metrics["classes"]["periapical_lesion"]
    assert "restoration" not in metrics["classes"]  # neither source labels restorations
    stored = json.loads(model.with_suffix(".json").read_text())["score_thresholds"]
    assert stored == metrics["thresholds"] and stored["restoration"] == DISABLED
    assert capsys.readouterr().out.startswith("chose calibration ")
    # The same teeth as other machines would show them, and the gate's verdict.
    assert main(["evaluate", str(model), "--split", "val", "--stability", *args]) == 0
    metrics = json.loads((tmp_path / "m" / "metrics-val.json").read_text())
    assert "edge enhancement" in metrics["stability"]
    gate = metrics["stability_gate"]
    verdict = "passes" if not gate["failures"] else "fails: " + "; ".join(gate["failures"])
    assert (
        f"stability gate (no class changes by more than half under any variation or cut) {verdict}"
        in capsys.readouterr().err
    )


def test_compare_two_models_on_the_same_scans_with_the_shipped_rule(
    tiny_model: Path, datasets_dir: Path, tmp_path: Path, capsys
) -> None:
    args = ["--datasets", str(REPO / "datasets" / "ufba425.yaml"), "--data-root", str(datasets_dir), "--limit", "2"]
    rule = REPO / "configs" / "evaluation" / "compare-rule.yaml"
    out = tmp_path / "c"
    assert (
        main(
            [
                "evaluate",
                "--compare",
                str(tiny_model),
                str(tiny_model),
                "--split",
                "test",
                *args,
                "--rule",
                str(rule),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    document = json.loads((out / "compare-test.json").read_text())
    # The same model twice: every difference is zero, so nothing is better and the shipped model stays.
    assert document["figures"]["teeth_f1"]["interval_95"] == [0.0, 0.0]
    assert document["verdict"]["adopt"] is False
    assert "| teeth_f1 |" in (out / "compare-test.md").read_text()
    assert "keep tiny: none of implant_false_per_scan_without" in capsys.readouterr().out


def test_compare_refuses_a_model_before_it(tiny_model: Path, capsys) -> None:
    assert main(["evaluate", str(tiny_model), "--compare", str(tiny_model), str(tiny_model)]) == 1
    assert "--compare takes the two models itself" in one_error_line(capsys)


TINY_CONFIGS = {
    "detector": "name: tiny\ndatasets: [{config: tufts.yaml}]\n",
    "tooth-findings": "kind: tooth-findings\nname: tiny\nsources: [{name: c, type: crop-folder, root: c}]\n",
}


@pytest.mark.parametrize("kind", list(TINY_CONFIGS))
def test_a_device_that_is_not_there_is_refused_in_one_line(tmp_path: Path, capsys, kind: str) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY_CONFIGS[kind])
    out = ["--out", str(tmp_path / "runs")]
    # One GPU more than this machine has: refused on every machine, before any data is read or a run folder made.
    beyond = f"cuda:{torch.cuda.device_count()}"
    assert main(["train", str(config), "--device", beyond, *out]) == 1
    assert f"device '{beyond}'" in one_error_line(capsys)
    assert main(["train", str(config), "--device", "gpu", *out]) == 1
    assert "device 'gpu' is unknown; use auto, cpu, cuda or cuda:N" in one_error_line(capsys)
    if not torch.cuda.is_available():
        assert main(["train", str(config), "--device", "cuda", *out]) == 1
        assert "train with --device cpu (or auto)" in one_error_line(capsys)
    assert not (tmp_path / "runs").exists()
