"""Leave-one-source-out: what a tooth findings recipe does on a clinic it never saw.

A test split of the sources a model trained on does not predict a new clinic (v1: restored-tooth F1 0.91 on
its test split, 0.07-0.22 at two other clinics). So for each fold of a training YAML's ``folds`` (sources
that share patients or a clinic are left out together), the same recipe is trained on the other sources,
calibrated and given thresholds on their validation teeth exactly as the shipped model is, exported to ONNX,
and scored on every split of the sources left out: per class AP and precision/recall/F1, as the product
reports them, calibration error, and plausibility per scan and per crop label (:mod:`.plausibility`).

Each fold writes ``OUT/<fold>/`` (``run/`` resumable training, ``model.onnx`` + ``model.json``,
``metrics.json``, ``reliability.png``); :func:`summarise` writes ``OUT/summary.json`` and a Markdown table
``OUT/summary.md`` for the model card. Run it with ``xrayreport evaluate --leave-one-source-out CONFIG``.

In-source validation keeps rising while the left-out source gets worse (round 1 of model v2: validation mean
AP 0.70 -> 0.86 over five epochs while caries per UFBA scan rose 2.59 -> 3.52), so with ``every_epoch`` each
epoch's model is scored the same way (``OUT/<fold>/epoch-<n>/``) and the summary gets a table per epoch: the
epoch to ship is chosen there.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic_write import write_text_atomically
from ..detection.tooth_findings import ToothFindingsClassifier, reported_scores
from ..errors import XrayReportError
from .calibration import expected_calibration_error, plot_reliability, reliability
from .plausibility import per_scan, per_tag, reported_metrics, reported_per_tooth
from .progress import log_progress
from .tooth_crops import ToothCrop, ToothTrainConfig, label_vector, load_split_crops
from .tooth_evaluation import crop_logits, tooth_metrics, tune

ALL_SPLITS = ("train", "val", "test")


def folds_of(config: ToothTrainConfig) -> dict[str, tuple[str, ...]]:
    """Fold name -> the sources it leaves out: the YAML's ``folds``, or one fold per source."""
    names = [s.name for s in config.sources]
    folds = config.folds or {name: (name,) for name in names}
    for fold, left_out in folds.items():
        for name in left_out:
            if name not in names:
                raise XrayReportError(
                    f"fold {fold!r} leaves out {name!r}, which is not a source of the recipe; its sources are: "
                    + ", ".join(names)
                )
    return {fold: tuple(left_out) for fold, left_out in folds.items()}


def fold_config(config: ToothTrainConfig, fold: str, left_out: tuple[str, ...]) -> ToothTrainConfig:
    """The recipe without the sources ``left_out``."""
    kept = tuple(s for s in config.sources if s.name not in left_out)
    if not kept:
        raise XrayReportError(f"fold {fold!r} leaves no source to train on")
    return replace(config, name=f"{config.name}-without-{fold}", sources=kept, folds=None)


def held_out_config(config: ToothTrainConfig, left_out: tuple[str, ...], limit: int | None) -> ToothTrainConfig:
    """The sources ``left_out``, every tooth of their scans (no negative sampling), optionally ``limit`` images
    or crops per split."""
    sources = tuple(
        replace(s, negatives_per_image=None, limit=limit if limit is not None else s.limit)
        for s in config.sources
        if s.name in left_out
    )
    return replace(config, sources=sources)


def transfer_figures(
    classifier: ToothFindingsClassifier, crops: list[ToothCrop], plot: Path | None = None, title: str = ""
) -> dict[str, Any]:
    """Everything measured on ``crops`` the model never trained on (see the module docstring); with ``plot``, the
    reliability diagrams are drawn into that PNG."""
    config = classifier.config
    logits = crop_logits(classifier, crops)
    probabilities = reported_scores(logits, config)
    reported = reported_per_tooth(probabilities, config.classes, config.threshold)
    targets = np.stack([label_vector(c.labels, config.classes) for c in crops])
    calibration: dict[str, Any] = {}
    curves = {}
    for index, name in enumerate(config.classes):
        known = targets[:, index] >= 0
        if name == "deep_caries" or not (targets[known, index] == 1).any():
            continue
        scores, labels = probabilities[known, index], targets[known, index]
        curves[name] = reliability(scores, labels)
        calibration[name] = {"teeth": int(known.sum()), "ece": expected_calibration_error(scores, labels)}
    if plot is not None and curves:
        plot_reliability(curves, plot, title)
    return {
        "teeth": len(crops),
        "thresholds": config.score_thresholds,
        "calibration_error": calibration,
        "reliability": curves,
        "classes": tooth_metrics(probabilities, crops, config.score_thresholds, config.classes),
        "reported": reported_metrics(reported, crops),
        "per_scan": per_scan(reported, crops),
        "per_crop_label": per_tag(reported, crops),
    }


def run_fold(
    config: ToothTrainConfig,
    base: Path,
    fold: str,
    out: Path,
    *,
    device_name: str = "auto",
    holdout_limit: int | None = None,
    every_epoch: bool = False,
) -> dict[str, Any]:
    """Train (or resume), export, tune and score one fold; returns and writes ``out/<fold>/metrics.json``.

    With ``every_epoch`` the training keeps each epoch's weights and each is scored into
    ``out/<fold>/epoch-<n>/metrics.json`` too (an epoch scored before is not scored again)."""
    from .tooth_classifier import train_tooth_classifier

    left_out = folds_of(config)[fold]
    training = fold_config(config, fold, left_out)
    fold_dir = out / fold
    run_dir = fold_dir / "run"
    if not (run_dir / "summary.json").exists():
        log_progress(f"fold {fold}: training without {', '.join(left_out)}")
        resume = (run_dir / "last.pt").exists()
        train_tooth_classifier(
            training, base, run_dir, resume=resume, device_name=device_name, keep_every_epoch=every_epoch
        )
    val_crops = load_split_crops(training, base, "val")
    held_out = held_out_config(config, left_out, holdout_limit)
    crops = [c for split in ALL_SPLITS for c in load_split_crops(held_out, base, split)]
    about: dict[str, Any] = {"fold": fold, "left_out": list(left_out), "trained_on": [s.name for s in training.sources]}
    checkpoints = sorted(run_dir.glob("epoch-*.pt"), key=lambda p: int(p.stem.split("-")[1])) if every_epoch else []
    for checkpoint in checkpoints:
        epoch = int(checkpoint.stem.split("-")[1])
        if not (fold_dir / checkpoint.stem / "metrics.json").exists():
            log_progress(f"fold {fold}: epoch {epoch}")
            _score(checkpoint, fold_dir / checkpoint.stem, training, base, val_crops, crops, {**about, "epoch": epoch})
    log_progress(f"fold {fold}: the kept model (best in-source validation)")
    title = f"{config.name} without {fold}: calibration on {fold}"
    about = {**about, "epochs": training.epochs}
    return _score(run_dir / "best.pt", fold_dir, training, base, val_crops, crops, about, title)


def _score(
    checkpoint: Path,
    folder: Path,
    training: ToothTrainConfig,
    base: Path,
    val_crops: list[ToothCrop],
    crops: list[ToothCrop],
    about: dict[str, Any],
    title: str | None = None,
) -> dict[str, Any]:
    """Export ``checkpoint`` to ``folder/model.onnx``, calibrate and threshold it on ``val_crops`` (the trained-on
    sources' validation teeth, as the shipped model is), score it on the left-out ``crops`` and write
    ``folder/metrics.json`` (with ``title``, the reliability diagram too)."""
    from .export import export_onnx

    model_path = folder / "model.onnx"
    export_onnx(checkpoint, model_path, name=training.name, version="fold")
    classifier = ToothFindingsClassifier(model_path)
    log_progress("calibration and thresholds on the other sources' validation teeth")
    classifier.config = tune(
        classifier.config, crop_logits(classifier, val_crops), val_crops, training.whole_scan_sources
    )
    write_text_atomically(model_path.with_suffix(".json"), classifier.config.to_json())
    log_progress("scoring the left-out sources on all their splits")
    plot = folder / "reliability.png" if title else None
    figures = {**about, **transfer_figures(classifier, crops, plot, title or "")}
    write_text_atomically(folder / "metrics.json", json.dumps(figures, indent=2) + "\n")
    return figures


def summarise(out: Path) -> str:
    """Collect every ``out/*/metrics.json`` into ``out/summary.json`` and a Markdown table ``out/summary.md``."""
    folds = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(out.glob("*/metrics.json"))]
    if not folds:
        raise XrayReportError(f"{out}: no fold has been scored yet (no */metrics.json)")
    lines = [
        "| left out | class (as reported) | teeth +/- | AP | precision | recall | F1 | ECE |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for fold in folds:
        for name, per_source in fold["reported"].items():
            figures = per_source["all"]
            raw = fold["classes"].get(name, {}).get("all", {})
            ece = fold["calibration_error"].get(name, {}).get("ece", "-")
            if not figures["tp"] + figures["fn"]:
                continue
            lines.append(
                f"| {fold['fold']} | {name} | {raw.get('positives', '-')}/{raw.get('negatives', '-')} | "
                f"{raw.get('ap', '-')} | {figures['precision']} | {figures['recall']} | {figures['f1']} | {ece} |"
            )
    lines += [
        "",
        "| left out | source | scans | reported per scan | on scans without it (false per scan) |",
        "|---|---|---|---|---|",
    ]
    for fold in folds:
        for source, entry in fold["per_scan"].items():
            means = ", ".join(f"{k} {v}" for k, v in entry["mean_per_scan"].items() if v)
            ruled = ", ".join(
                f"{k} {v['false_per_scan']} ({v['scans']} scans)" for k, v in entry.get("on_scans_without", {}).items()
            )
            lines.append(f"| {fold['fold']} | {source} | {entry['scans']} | {means or 'none'} | {ruled or '-'} |")
    epochs = sorted(
        (json.loads(p.read_text(encoding="utf-8")) for p in out.glob("*/epoch-*/metrics.json")),
        key=lambda figures: (figures["fold"], figures["epoch"]),
    )
    if epochs:
        lines += [
            "",
            "| left out | epoch | in-source validation mean AP | source | reported per scan | on scans without it |",
            "|---|---|---|---|---|---|",
        ]
        for figures in epochs:
            validation = _validation_mean_ap(out / figures["fold"] / "run" / "metrics.jsonl", figures["epoch"])
            for source, entry in figures["per_scan"].items():
                means = ", ".join(f"{k} {v}" for k, v in entry["mean_per_scan"].items() if v)
                ruled = ", ".join(f"{k} {v['false_per_scan']}" for k, v in entry.get("on_scans_without", {}).items())
                lines.append(
                    f"| {figures['fold']} | {figures['epoch']} | {validation} | {source} | {means or 'none'} | "
                    f"{ruled or '-'} |"
                )
    tags = [(fold["fold"], tag, entry) for fold in folds for tag, entry in fold["per_crop_label"].items()]
    if tags:
        lines += ["", "| left out | crop label | crops | share reported |", "|---|---|---|---|"]
        for fold_name, tag, entry in tags:
            shares = ", ".join(f"{k} {v}" for k, v in entry["share_reported"].items() if v)
            lines.append(f"| {fold_name} | {tag} | {entry['crops']} | {shares or 'none'} |")
    table = "\n".join(lines) + "\n"
    write_text_atomically(out / "summary.json", json.dumps(folds, indent=2) + "\n")
    write_text_atomically(out / "summary.md", table)
    return table


def _validation_mean_ap(metrics_jsonl: Path, epoch: int) -> str:
    """The in-source validation mean AP training logged for ``epoch``, rounded; "-" where it is not there."""
    if metrics_jsonl.exists():
        for line in metrics_jsonl.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record.get("epoch") == epoch:
                return f"{record['val_mean_ap']:.3f}"
    return "-"
