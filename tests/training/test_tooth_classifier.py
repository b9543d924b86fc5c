"""The tooth classifier's training: masked loss, AP, epoch draws, and a tiny real run that learns and exports."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from xrayreport.detection.tooth_findings import TOOTH_FINDING_CLASSES, ToothFindingsClassifier
from xrayreport.errors import XrayReportError
from xrayreport.training.export import export_onnx
from xrayreport.training.tooth_classifier import (
    augment_crop,
    bernoulli_js,
    consistency_columns,
    epoch_draws,
    masked_bce,
    train_tooth_classifier,
)
from xrayreport.training.tooth_crops import (
    CropSource,
    ToothCrop,
    ToothTrainConfig,
    load_tooth_train_config,
    validate_source,
)
from xrayreport.training.tooth_evaluation import (
    average_precision,
    choose_thresholds_for_recall,
    choose_tooth_thresholds,
    compare_ap,
    parse_tune_on,
    recalls_on_tuning_teeth,
    tooth_metrics,
)

REPO = Path(__file__).resolve().parents[2]


def test_masked_bce_counts_only_known_labels() -> None:
    logits = torch.zeros(2, 4)
    assert float(masked_bce(logits, torch.full((2, 4), -1.0))) == 0.0
    targets = torch.tensor([[1.0, -1, -1, -1], [-1, -1, -1, 0]])
    assert math.isclose(float(masked_bce(logits, targets)), math.log(2), rel_tol=1e-6)


def test_bernoulli_js_by_hand() -> None:
    # p = 0.5, q = 0.9, m = 0.7: KL(p||m) = 0.08718, KL(q||m) = 0.11632, JS = 0.10175 nats.
    logits = torch.tensor([[0.0, 3.0]])
    other = torch.tensor([[math.log(9.0), 3.0]])  # the second output agrees: contributes 0
    assert float(bernoulli_js(logits, other)) == pytest.approx(0.10175 / 2, abs=1e-4)
    assert float(bernoulli_js(other, logits)) == pytest.approx(float(bernoulli_js(logits, other)))
    assert float(bernoulli_js(logits, logits)) == pytest.approx(0.0, abs=1e-6)
    # Opposite certainties approach ln 2, the most one output can disagree.
    assert float(bernoulli_js(torch.tensor([[20.0]]), torch.tensor([[-20.0]]))) == pytest.approx(math.log(2), abs=1e-4)


def test_average_precision_by_hand() -> None:
    # Ranked: hit, miss, hit -> precisions 1 and 2/3 at the hits.
    assert math.isclose(average_precision(np.array([0.9, 0.8, 0.7]), np.array([1.0, 0, 1])), (1 + 2 / 3) / 2)
    assert math.isnan(average_precision(np.array([0.5]), np.array([0.0])))


def _crop(source: str, labels: dict[str, int]) -> ToothCrop:
    return ToothCrop(np.zeros((40, 20), np.uint8), (5.0, 5.0, 15.0, 35.0), labels, source)


def test_epoch_draws_follow_source_weights_and_positive_share() -> None:
    crops = [_crop("a", {"caries": 1})] * 10 + [_crop("a", {"caries": 0})] * 990 + [_crop("b", {"caries": 1})] * 50
    sources = (
        validate_source({"name": "a", "type": "teeth", "weight": 3}),
        validate_source({"name": "b", "type": "crop-folder", "weight": 1}),
    )
    config = ToothTrainConfig(name="t", sources=sources, samples_per_epoch=20000, positive_share=0.3)
    draws = epoch_draws(crops, config, epoch=0)
    from_a = draws < 1000
    assert abs(from_a.mean() - 0.75) < 0.02  # weight 3 of 4
    assert abs((draws[from_a] < 10).mean() - 0.3) < 0.03  # rare positives lifted to 30 % of a's draws
    np.testing.assert_array_equal(draws, epoch_draws(crops, config, epoch=0))  # seeded: resumable


def test_augmented_cut_is_a_uint8_image_near_the_tooth() -> None:
    crop = ToothCrop(np.arange(100 * 60, dtype=np.uint32).reshape(100, 60).astype(np.uint8), (10, 20, 50, 80), {}, "a")
    config = ToothTrainConfig(name="t", sources=())
    for seed in range(20):
        cut = augment_crop(crop, config.preprocessing, np.random.default_rng(seed))
        assert cut.dtype == np.uint8 and 40 <= cut.shape[0] <= 100 and 20 <= cut.shape[1] <= 60


def test_a_tight_cut_shows_no_neighbour() -> None:
    # The tooth box is 40 pixels wide in a 60-pixel-wide image: a tight cut stays within those 40 columns.
    crop = ToothCrop(np.zeros((100, 60), np.uint8), (10, 20, 50, 80), {}, "a")
    prep = ToothTrainConfig(name="t", sources=()).preprocessing
    tight = [augment_crop(crop, prep, np.random.default_rng(seed), tight=True).shape[1] for seed in range(50)]
    assert max(tight) <= 40 and min(tight) >= 40 * 0.7 and np.mean(tight) < 38
    wide = [augment_crop(crop, prep, np.random.default_rng(seed)).shape[1] for seed in range(50)]
    assert np.mean(wide) > 40  # the product's margin shows some of the neighbours


def test_tight_views_need_the_consistency_term() -> None:
    with pytest.raises(XrayReportError, match="set machine_consistency"):
        ToothTrainConfig(name="t", sources=(), tight_views=0.5)
    with pytest.raises(XrayReportError, match="0 to 1"):
        ToothTrainConfig(name="t", sources=(), tight_views=2.0, machine_consistency=1.0)


def test_the_consistency_term_can_be_kept_to_named_classes() -> None:
    both = ToothTrainConfig(
        name="t", sources=(), machine_consistency=1.0, consistency_classes=["caries", "deep_caries"]
    )
    assert both.consistency_classes == ("caries", "deep_caries") and consistency_columns(both) == [0, 1]
    assert consistency_columns(ToothTrainConfig(name="t", sources=())) == list(range(len(TOOTH_FINDING_CLASSES)))
    with pytest.raises(
        XrayReportError, match="unknown consistency class 'cavity'; valid consistency classes are: caries, deep_caries"
    ):
        ToothTrainConfig(name="t", sources=(), consistency_classes=("caries", "cavity"))


def test_thresholds_are_chosen_for_f1_above_the_precision_floor() -> None:
    crops = [_crop("a", {"caries": 1})] * 2 + [_crop("a", {"caries": 0})] * 2
    probabilities = np.zeros((4, 6))
    probabilities[:, 0] = [0.9, 0.6, 0.7, 0.1]
    chosen = choose_tooth_thresholds(probabilities, crops, candidates=(0.5, 0.65, 0.8))
    # 0.5: P 2/3 R 1 (F1 0.8); 0.65: P 1/2 R 1/2; 0.8: P 1 R 1/2 (F1 0.667). Others have no known labels.
    assert chosen == {"caries": 0.5, **dict.fromkeys(TOOTH_FINDING_CLASSES[1:], 1.1)}
    # A crop folder's easy negatives do not set the threshold when whole-scan teeth know the class.
    folder = [_crop("folder", {"caries": 0})] * 20
    with_folder = np.vstack([probabilities, np.tile([0.55, 0, 0, 0, 0, 0], (20, 1))])
    assert choose_tooth_thresholds(with_folder, crops + folder, frozenset({"a"}), (0.5, 0.65, 0.8))["caries"] == 0.5
    assert choose_tooth_thresholds(with_folder, crops + folder, frozenset(), (0.5, 0.65, 0.8))["caries"] == 0.8
    metrics = tooth_metrics(probabilities, crops, chosen)
    assert metrics["caries"]["a"] == metrics["caries"]["all"]
    assert (metrics["caries"]["all"]["tp"], metrics["caries"]["all"]["fp"]) == (2, 1)


def test_a_class_can_be_tuned_on_named_sources_alone() -> None:
    # Full-resolution scans ("dc": carious 0.85, 0.9; healthy 0.7, 0.1) and 512x256 exports ("dr": carious
    # 0.55, 0.6; healthy 0.1, 0.1), both whole scans.
    classes, whole = ("caries",), frozenset({"dc", "dr"})
    crops = [_crop("dc", {"caries": label}) for label in (1, 1, 0, 0)] + [
        _crop("dr", {"caries": label}) for label in (1, 1, 0, 0)
    ]
    probabilities = np.array([[0.85], [0.9], [0.7], [0.1], [0.55], [0.6], [0.1], [0.1]])
    candidates = (0.5, 0.65, 0.8)
    # All eight: 0.5 gives P 4/5 R 1 (F1 0.889); 0.65 P 2/3 R 1/2 (0.571); 0.8 P 1 R 1/2 (0.667).
    assert choose_tooth_thresholds(probabilities, crops, whole, candidates, classes=classes) == {"caries": 0.5}
    # "dc" alone: 0.5 and 0.65 give P 2/3 R 1 (0.8); 0.8 gives P 1 R 1 (1.0).
    tune_on = {"caries": frozenset({"dc"})}
    assert choose_tooth_thresholds(probabilities, crops, whole, candidates, classes=classes, tune_on=tune_on) == {
        "caries": 0.8
    }
    assert recalls_on_tuning_teeth(probabilities, crops, {"caries": 0.8}, whole, classes) == {"caries": 0.5}
    assert recalls_on_tuning_teeth(probabilities, crops, {"caries": 0.8}, whole, classes, tune_on) == {"caries": 1.0}
    healthy_only = [_crop("dc", {"caries": 1})] + [_crop("none", {"caries": 0})] * 3
    with pytest.raises(XrayReportError, match="caries cannot be tuned on none alone: no tooth there is labelled"):
        choose_tooth_thresholds(
            probabilities[:4], healthy_only, whole, candidates, classes=classes, tune_on={"caries": frozenset({"none"})}
        )


def test_tune_on_is_read_as_class_equals_sources_and_checks_both_names() -> None:
    classes, sources = ("caries", "restoration"), ("dc1000", "dental-radiography", "tufts")
    assert parse_tune_on(["caries=dc1000", "restoration=dental-radiography,tufts"], classes, sources) == {
        "caries": frozenset({"dc1000"}),
        "restoration": frozenset({"dental-radiography", "tufts"}),
    }
    assert parse_tune_on([], classes, sources) == {}
    with pytest.raises(XrayReportError, match="unknown class 'cavity'; valid classes are: caries, restoration"):
        parse_tune_on(["cavity=dc1000"], classes, sources)
    with pytest.raises(XrayReportError, match="unknown source 'dc100'; valid sources are: dc1000, dental-radiography"):
        parse_tune_on(["caries=dc100"], classes, sources)
    with pytest.raises(XrayReportError, match="CLASS=SOURCE"):
        parse_tune_on(["caries"], classes, sources)


def test_two_models_ap_is_compared_over_resampled_scans() -> None:
    # Two scans, each with one carious tooth and one healthy one; OLD ranks them backwards on both, NEW right.
    crops = [
        ToothCrop(np.zeros((4, 4), np.uint8), (0.0, 0.0, 4.0, 4.0), {"caries": label}, "a", scan)
        for scan in ("s1", "s2")
        for label in (1, 0)
    ] + [_crop("b", {"caries": 0})]  # a source without a carious tooth: no row of its own
    old = np.array([[0.1], [0.9], [0.1], [0.9], [0.5]])
    new = np.array([[0.9], [0.1], [0.9], [0.1], [0.5]])
    rows = compare_ap(old, new, crops, ("caries",), rounds=200)
    assert [(r["source"], r["positives"], r["scans"]) for r in rows] == [("all", 2, 3), ("a", 2, 2)]
    # "a" by hand: OLD puts both healthy teeth first, precision 1/3 and 2/4 at the carious ones: AP 5/12.
    assert (rows[1]["old_ap"], rows[1]["new_ap"]) == (round(5 / 12, 4), 1.0)
    # Every resample holds a scan, so a carious and a healthy tooth: NEW - OLD is 7/12 in every one.
    assert rows[1]["difference_95"] == [round(7 / 12, 4)] * 2
    assert all(r["difference_95"] == [0.0, 0.0] for r in compare_ap(old, old, crops, ("caries",), rounds=50))


def test_a_replacement_keeps_the_shipped_models_recall() -> None:
    crops = [_crop("a", {"caries": 1})] * 4 + [_crop("a", {"caries": 0})] * 4
    old = np.zeros((8, 6))
    old[:, 0] = [0.9, 0.8, 0.3, 0.2, 0.6, 0.1, 0.1, 0.1]
    # The old model at 0.5 finds 2 of 4 carious teeth; a class it never reported (1.1) keeps recall 0.
    recalls = recalls_on_tuning_teeth(old, crops, {"caries": 0.5, "periapical_lesion": 1.1, "crown": 0.5})
    assert recalls == {"caries": 0.5}  # periapical: no positive among these teeth; crown: not a class
    new = np.zeros((8, 6))
    new[:, 0] = [0.95, 0.7, 0.65, 0.2, 0.3, 0.6, 0.1, 0.1]
    # 0.8: R 1/4; 0.675: R 2/4 P 1; 0.6: R 3/4 P 3/4; 0.5: R 3/4 P 3/4. The highest with R >= 1/2 is 0.675.
    candidates = (0.5, 0.6, 0.675, 0.8)
    assert choose_thresholds_for_recall(new, crops, recalls, candidates=candidates) == {"caries": 0.675}
    assert choose_thresholds_for_recall(new, crops, {"caries": 0.75}, candidates=candidates) == {"caries": 0.6}
    # A recall no threshold reaches, one reached only below the precision floor, or a class never reported: off.
    assert choose_thresholds_for_recall(new, crops, {"caries": 1.0}, candidates=candidates) == {"caries": 1.1}
    strict = choose_thresholds_for_recall(new, crops, {"caries": 0.75}, candidates=candidates, min_precision=0.8)
    assert strict == {"caries": 1.1}
    assert choose_thresholds_for_recall(new, crops, {"caries": 0.0}, candidates=candidates) == {"caries": 1.1}


@pytest.mark.slow
def test_tiny_run_learns_resumes_and_exports(datasets_dir: Path, tmp_path: Path) -> None:
    torch.set_num_threads(2)
    shipped, base = load_tooth_train_config(REPO / "configs" / "tooth-findings-v1.yaml")
    # 16 DENTEX crops and the teeth of one Tufts panoramic: no detector needed, a few seconds per epoch.
    sources = (
        validate_source({**vars(_named(shipped, "dentex-crops")), "limit": 16}),
        validate_source({**vars(_named(shipped, "tufts")), "limit": 1, "negatives_per_image": 8}),
    )
    config = ToothTrainConfig(
        name="tiny-teeth",
        sources=sources,
        data_root=str(datasets_dir),
        input_width=64,
        input_height=128,
        epochs=3,
        samples_per_epoch=16,
        batch_size=16,
        learning_rate=2e-3,
        warmup_steps=1,
        pretrained=None,
        augment=False,
    )
    run = tmp_path / "run"
    summary = train_tooth_classifier(config, base, run, device_name="cpu")
    assert sorted(p.name for p in run.iterdir()) == [
        "best.pt",
        "config.json",
        "last.pt",
        "metrics.jsonl",
        "summary.json",
    ]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records]
    # Plain cuts, but each epoch draws its own 16 of the 25 crops: compare the first and last epochs.
    assert losses[-1] < losses[0], losses
    assert summary["best_val_mean_ap"] == max(r["val_mean_ap"] for r in records)

    train_tooth_classifier(ToothTrainConfig(**{**vars(config), "epochs": 4}), base, run, resume=True, device_name="cpu")
    assert [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3, 4]

    onnx = tmp_path / "teeth.onnx"
    assert export_onnx(run / "best.pt", onnx, name="tiny-teeth", version="0.0.1") < 1e-4
    classifier = ToothFindingsClassifier(onnx)
    assert classifier.config.preprocessing.input_height == 128
    pixels = np.random.default_rng(0).integers(0, 255, (300, 200), dtype=np.uint8)
    assert classifier.probabilities(pixels, [(10, 10, 60, 150), (60, 10, 110, 150)]).shape == (2, 6)

    # Fine-tuning the exported model starts where it stopped, not from scratch.
    tuned = ToothTrainConfig(**{**vars(config), "epochs": 1, "initial_weights": str(onnx)})
    train_tooth_classifier(tuned, base, tmp_path / "tuned", device_name="cpu")
    first = json.loads((tmp_path / "tuned" / "metrics.jsonl").read_text().splitlines()[0])
    assert first["loss"] < losses[0], (first["loss"], losses)

    # Consistency training shows every cut twice (as it is and as another machine would) and still learns.
    steady = ToothTrainConfig(
        **{
            **vars(config),
            **{"epochs": 1, "augment": True, "machine_consistency": 1.0, "tight_views": 0.5},
            "consistency_classes": ("caries",),
        }
    )
    train_tooth_classifier(steady, base, tmp_path / "steady", device_name="cpu")
    record = json.loads((tmp_path / "steady" / "metrics.jsonl").read_text())
    assert math.isfinite(record["loss"]) and record["loss"] > 0
    assert json.loads((tmp_path / "steady" / "config.json").read_text())["train"]["machine_consistency"] == 1.0


def _named(config: ToothTrainConfig, name: str) -> CropSource:
    return next(s for s in config.sources if s.name == name)


def test_a_class_no_whole_scan_shows_positive_is_tuned_on_the_crop_folder() -> None:
    # Root canal fillings: whole scans only say "none here"; the crop folder has the positives.
    classes = ("root_canal",)
    crops = [_crop("scans", {"root_canal": 0})] * 4 + [_crop("folder", {"root_canal": 1})] * 2
    probabilities = np.array([[0.1], [0.2], [0.1], [0.7], [0.8], [0.9]])
    chosen = choose_tooth_thresholds(probabilities, crops, frozenset({"scans"}), (0.5, 0.75), classes=classes)
    # On all six teeth: 0.5 gives P 2/3 R 1 (F1 0.8), 0.75 gives P 1 R 1 (F1 1.0).
    assert chosen == {"root_canal": 0.75}


def test_fine_tuning_starts_from_the_shipped_model_and_adds_the_classes_it_lacks() -> None:
    import onnxruntime as ort

    from xrayreport.detection.tooth_findings import CropPreprocessing
    from xrayreport.training.tooth_classifier import start_from_shipped

    shipped = REPO / "models" / "tooth-findings-v1.onnx"  # caries, deep_caries, periapical_lesion, restoration
    prep = CropPreprocessing(input_width=128, input_height=256, margin=0.1)
    model = start_from_shipped(shipped, prep)
    crops = torch.from_numpy(np.random.default_rng(0).normal(size=(2, 1, 256, 128)).astype(np.float32))
    model.eval()
    with torch.no_grad():
        ours = model(crops).numpy()
    assert ours.shape == (2, len(TOOTH_FINDING_CLASSES))
    session = ort.InferenceSession(str(shipped), providers=["CPUExecutionProvider"])
    (theirs,) = session.run(None, {session.get_inputs()[0].name: crops.numpy()})
    for column, name in enumerate(("caries", "deep_caries", "periapical_lesion", "restoration")):
        np.testing.assert_allclose(ours[:, TOOTH_FINDING_CLASSES.index(name)], theirs[:, column], atol=1e-3)
    with pytest.raises(XrayReportError, match=r"takes 128 x 256 crops with margin 0\.1; give the training YAML"):
        start_from_shipped(shipped, CropPreprocessing(input_width=96, input_height=192, margin=0.1))
    # A new detail smoothing is not another geometry: the fine-tune learns it.
    start_from_shipped(shipped, CropPreprocessing(input_width=128, input_height=256, margin=0.1, detail_smoothing=1.0))
