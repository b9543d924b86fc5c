"""Train the second-stage tooth classifier (``kind: tooth-findings`` in a training YAML).

Every crop teaches only the classes its source labels (a masked binary cross-entropy), and
``deep_caries`` is learned as P(deep | carious) from carious teeth only, so sources that say "caries"
without depth do not teach "shallow". Each epoch draws ``samples_per_epoch`` crops, each source
contributing its ``weight`` share and positives at least ``positive_share`` of a source's draws (periapical
lesions are about 1 tooth in 120). A run writes ``config.json``, ``metrics.jsonl`` (loss and validation AP per
class per epoch), ``last.pt`` (every epoch and every few minutes; resumes mid-epoch), ``best.pt`` (highest
mean validation AP) and ``summary.json``, like the detector's training.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from ..detection.tooth_findings import (
    TASK,
    TOOTH_FINDING_CLASSES,
    CropPreprocessing,
    ToothFindingsConfig,
    crop_input,
    crop_region,
    load_tooth_findings_config,
    unconditional,
)
from ..errors import XrayReportError
from .model import MobileNetV2Backbone
from .onnx_weights import start_from_onnx
from .progress import log_progress
from .robustness import vary_like_another_machine
from .tooth_crops import ToothCrop, ToothTrainConfig, label_vector, load_split_crops
from .tooth_evaluation import tooth_metrics
from .train import load_pretrained, lr_factor, pick_device, resume_checkpoint, save_checkpoint


class ToothClassifier(nn.Module):
    """MobileNetV2 features -> average and max pooled -> one logit per tooth finding class.

    Input (B, 1, H, W) normalised crops; output (B, len(TOOTH_FINDING_CLASSES)) logits. Max pooling
    keeps a small lesion's signal that averaging over the whole tooth would dilute.
    """

    def __init__(self, num_classes: int = len(TOOTH_FINDING_CLASSES)) -> None:
        super().__init__()
        self.backbone = MobileNetV2Backbone()
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(2 * 320, num_classes)

    def forward(self, crops: Tensor) -> Tensor:
        features = self.backbone(crops.expand(-1, 3, -1, -1))[-1]
        pooled = torch.cat([features.mean(dim=(2, 3)), features.amax(dim=(2, 3))], dim=1)
        logits: Tensor = self.head(self.dropout(pooled))
        return logits


def start_from_shipped(onnx_path: Path, prep: CropPreprocessing) -> ToothClassifier:
    """A classifier of every class in :data:`TOOTH_FINDING_CLASSES` with the weights of a shipped tooth findings model
    (``onnx_path``, its JSON beside it; see :func:`.onnx_weights.start_from_onnx`). A class the shipped model has
    no output for (tooth-findings-v1: root canal, implant) gets a new row of the head, untrained; the others keep
    theirs, so each of them starts where the shipped model's output is."""
    shipped = load_tooth_findings_config(onnx_path.with_suffix(".json"))
    # The geometry must match; a new detail smoothing is for the fine-tune to learn.
    smoothing = prep.detail_smoothing, prep.detail_smoothing_sigma
    if replace(shipped.preprocessing, detail_smoothing=smoothing[0], detail_smoothing_sigma=smoothing[1]) != prep:
        raise XrayReportError(
            f"{onnx_path}: takes {shipped.preprocessing.input_width} x {shipped.preprocessing.input_height} crops with "
            f"margin {shipped.preprocessing.margin}; give the training YAML the same input_width, input_height, margin"
        )
    unknown = sorted(set(shipped.classes) - set(TOOTH_FINDING_CLASSES))
    if unknown:
        raise XrayReportError(f"{onnx_path}: classes {', '.join(unknown)} are not tooth finding classes")
    model = ToothClassifier(len(shipped.classes))
    start_from_onnx(model, onnx_path, torch.zeros(2, 1, prep.input_height, prep.input_width))
    if tuple(shipped.classes) != TOOTH_FINDING_CLASSES:
        head = nn.Linear(model.head.in_features, len(TOOTH_FINDING_CLASSES))
        with torch.no_grad():
            for row, name in enumerate(shipped.classes):
                head.weight[TOOTH_FINDING_CLASSES.index(name)] = model.head.weight[row]
                head.bias[TOOTH_FINDING_CLASSES.index(name)] = model.head.bias[row]
        model.head = head
    return model


def masked_bce(logits: Tensor, targets: Tensor) -> Tensor:
    """Binary cross-entropy over known labels only (targets of -1 are ignored); 0 when none is known."""
    known = targets >= 0
    if not bool(known.any()):
        return logits.sum() * 0.0
    return nn.functional.binary_cross_entropy_with_logits(logits[known], targets[known])


def bernoulli_js(logits: Tensor, other_logits: Tensor) -> Tensor:
    """Mean Jensen-Shannon divergence (nats) between two (N, classes) sets of independent sigmoid outputs.

    The consistency term of AugMix (Hendrycks et al., 2020) for multi-label outputs: 0 when the network says the
    same of a tooth however the machine showed it, at most ln 2 per output; it needs no label, so it also
    steadies the classes a crop's source does not label.
    """
    p = torch.sigmoid(logits).clamp(1e-7, 1 - 1e-7)
    q = torch.sigmoid(other_logits).clamp(1e-7, 1 - 1e-7)
    m = (p + q) / 2

    def kl_to_m(x: Tensor) -> Tensor:
        return x * torch.log(x / m) + (1 - x) * torch.log((1 - x) / (1 - m))

    return ((kl_to_m(p) + kl_to_m(q)) / 2).mean()


def consistency_columns(config: ToothTrainConfig) -> list[int]:
    """The output columns the consistency term compares: ``consistency_classes``, or every class."""
    names = config.consistency_classes or TOOTH_FINDING_CLASSES
    return [TOOTH_FINDING_CLASSES.index(name) for name in names]


def augment_crop(
    crop: ToothCrop,
    prep: CropPreprocessing,
    rng: np.random.Generator,
    machine_variation: float = 0.0,
    tight: bool = False,
) -> NDArray[np.uint8]:
    """A randomly varied cut of the tooth: box jitter and margin, rotation, flips, lost resolution, and with
    probability ``machine_variation`` another unit's tone curve, edge enhancement or JPEG compression, then
    gamma and noise.

    ``tight`` cuts the tooth as a crop folder's annotators did (DENTEX): no margin and the sides taken in by up
    to a tenth of the box's width, so no neighbour is in view. Cut so, v1 called caries on 15-67 % more clean
    UFBA-425 and Tufts teeth than at the product's margin (docs/model-v2.md, section 11).

    Flips in both directions are safe: upper teeth stand crown-down in a panoramic and lower teeth crown-up,
    and no finding class depends on the side.
    """
    x1, y1, x2, y2 = crop.box
    w, h = x2 - x1, y2 - y1
    jitter = rng.normal(0, 0.04, 4) * np.array([w, h, w, h])
    if tight:
        inward = rng.uniform(0, 0.1, 2) * w
        jitter[0], jitter[2] = abs(jitter[0]) + inward[0], -abs(jitter[2]) - inward[1]
    box = (x1 + jitter[0], y1 + jitter[1], x2 + jitter[2], y2 + jitter[3])
    height, width = crop.pixels.shape
    margin = 0.0 if tight else float(rng.uniform(0, 2 * prep.margin))
    cx1, cy1, cx2, cy2 = crop_region(box, margin, width, height)
    pixels = crop.pixels[cy1:cy2, cx1:cx2]
    if rng.random() < 0.5:
        angle = float(rng.uniform(-8, 8))
        matrix = cv2.getRotationMatrix2D(((cx2 - cx1) / 2, (cy2 - cy1) / 2), angle, 1.0)
        pixels = np.asarray(
            cv2.warpAffine(pixels, matrix, (cx2 - cx1, cy2 - cy1), borderMode=cv2.BORDER_REFLECT), dtype=np.uint8
        )
    if rng.random() < 0.5:
        pixels = pixels[:, ::-1]
    if rng.random() < 0.5:
        pixels = pixels[::-1]
    if rng.random() < 0.3:
        # Other machines and datasets see teeth at a third of this resolution (dental-radiography).
        factor = float(rng.uniform(0.3, 0.8))
        height, width = pixels.shape
        small = cv2.resize(pixels, (max(1, round(width * factor)), max(1, round(height * factor))))
        pixels = np.asarray(cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR), dtype=np.uint8)
    if machine_variation and rng.random() < machine_variation:
        pixels = vary_like_another_machine(np.ascontiguousarray(pixels), rng)
    values = pixels.astype(np.float32) / 255.0
    values = values ** float(rng.uniform(0.7, 1.4))
    if rng.random() < 0.3:
        values = values + rng.normal(0, rng.uniform(0.005, 0.03), values.shape).astype(np.float32)
    return np.ascontiguousarray(np.clip(values * 255.0, 0, 255).astype(np.uint8))


def plain_crop(crop: ToothCrop, prep: CropPreprocessing) -> NDArray[np.uint8]:
    """The cut the product makes: the tooth box grown by the shipped margin."""
    height, width = crop.pixels.shape
    x1, y1, x2, y2 = crop_region(crop.box, prep.margin, width, height)
    return crop.pixels[y1:y2, x1:x2]


def epoch_draws(crops: list[ToothCrop], config: ToothTrainConfig, epoch: int) -> NDArray[np.int64]:
    """The crop indices of one training epoch: seeded, weighted by source and by positives.

    Within a source, teeth with any finding make at least ``positive_share`` of the draws and, with
    ``max_positive_share``, at most that: a folder of diagnosed crops (DENTEX) then shows its few healthy
    teeth often enough that "looks like this source" cannot stand for "diseased".
    """
    weights = np.zeros(len(crops))
    share = {s.name: s.weight for s in config.sources}
    present = {c.source for c in crops}
    total_share = sum(share[name] for name in present)
    for source in present:
        members = [i for i, c in enumerate(crops) if c.source == source]
        positive = [i for i in members if 1 in crops[i].labels.values()]
        negative = [i for i in members if 1 not in crops[i].labels.values()]
        source_weight = share[source] / total_share
        fraction = len(positive) / len(members)
        target = max(fraction, config.positive_share)
        if config.max_positive_share is not None:
            target = min(target, config.max_positive_share)
        if positive and negative and target != fraction:
            weights[positive] = source_weight * target / len(positive)
            weights[negative] = source_weight * (1 - target) / len(negative)
        else:
            weights[members] = source_weight / len(members)
    rng = np.random.default_rng((config.seed, epoch))
    return rng.choice(len(crops), size=config.samples_per_epoch, p=weights / weights.sum())


@torch.no_grad()
def predict(
    model: ToothClassifier, crops: list[ToothCrop], prep: CropPreprocessing, device: torch.device
) -> NDArray[np.float64]:
    """(N, classes) sigmoid outputs on the product's plain cuts (deep caries still conditional)."""
    model.eval()
    out = []
    for start in range(0, len(crops), 64):
        batch = np.stack([crop_input(plain_crop(c, prep), prep) for c in crops[start : start + 64]])
        out.append(torch.sigmoid(model(torch.from_numpy(batch).to(device))).cpu().numpy())
    model.train()
    return np.concatenate(out).astype(np.float64) if out else np.zeros((0, len(TOOTH_FINDING_CLASSES)))


def train_tooth_classifier(
    config: ToothTrainConfig,
    base: Path,
    run_dir: Path,
    *,
    resume: bool = False,
    device_name: str = "auto",
    keep_every_epoch: bool = False,
) -> dict[str, Any]:
    """Train per ``config``; returns the summary also written to ``run_dir/summary.json``.

    With ``keep_every_epoch`` each epoch's weights stay as ``run_dir/epoch-<n>.pt`` (n from 1), so the epoch to
    ship can be chosen on a source left out rather than on in-source validation (see leave_one_source_out).
    """
    device = pick_device(device_name)
    torch.manual_seed(config.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    prep = config.preprocessing
    model_config = ToothFindingsConfig(name=config.name, version="0", preprocessing=prep)
    train_crops = load_split_crops(config, base, "train")
    val_crops = load_split_crops(config, base, "val")
    resolved = {
        "train": asdict(config),
        "model": asdict(model_config),
        "device": str(device),
        "train_crops": len(train_crops),
        "val_crops": len(val_crops),
        "torch": torch.__version__,
    }
    (run_dir / "config.json").write_text(json.dumps(resolved, indent=2, default=str) + "\n")

    if config.initial_weights:
        model = start_from_shipped(base / config.initial_weights, prep)
    else:
        model = ToothClassifier()
        load_pretrained(model.backbone, config.pretrained)
    model = model.to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(config.samples_per_epoch / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    state: dict[str, Any] = {"epoch": 0, "step_in_epoch": 0, "global_step": 0, "best_ap": -1.0}
    last = run_dir / "last.pt"
    if resume and last.exists():
        state = resume_checkpoint(last, model, optimiser, device)

    def save(path: Path) -> None:
        save_checkpoint(path, TASK, model, optimiser, state, model_config)

    steadied = consistency_columns(config)
    model.train()
    last_save = time.monotonic()
    while state["epoch"] < config.epochs:
        epoch = int(state["epoch"])
        draws = epoch_draws(train_crops, config, epoch)
        total_loss, count, started = 0.0, 0, time.monotonic()
        for step in range(int(state["step_in_epoch"]), steps_per_epoch):
            rng = np.random.default_rng((config.seed, epoch, step))
            chosen = draws[step * config.batch_size : (step + 1) * config.batch_size]
            cuts = [
                augment_crop(train_crops[i], prep, rng, config.machine_variation)
                if config.augment
                else plain_crop(train_crops[i], prep)
                for i in chosen
            ]
            images = np.stack([crop_input(cut, prep) for cut in cuts])
            targets = torch.from_numpy(np.stack([label_vector(train_crops[i].labels) for i in chosen])).to(device)
            for group in optimiser.param_groups:
                factor = lr_factor(int(state["global_step"]), total_steps, config.warmup_steps)
                group["lr"] = config.learning_rate * factor
            if config.machine_consistency:
                # The same teeth as another unit would show them (and, for a share ``tight_views``, cut without
                # neighbours as a crop folder's are): both taught, and any disagreement penalised.
                seconds = [
                    augment_crop(train_crops[i], prep, rng, tight=True) if rng.random() < config.tight_views else cut
                    for i, cut in zip(chosen, cuts, strict=True)
                ]
                varied = np.stack(
                    [crop_input(vary_like_another_machine(np.ascontiguousarray(cut), rng), prep) for cut in seconds]
                )
                logits, varied_logits = model(torch.from_numpy(np.concatenate([images, varied])).to(device)).chunk(2)
                loss = (masked_bce(logits, targets) + masked_bce(varied_logits, targets)) / 2
                loss = loss + config.machine_consistency * bernoulli_js(logits[:, steadied], varied_logits[:, steadied])
            else:
                loss = masked_bce(model(torch.from_numpy(images).to(device)), targets)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            state["step_in_epoch"] = step + 1
            state["global_step"] += 1
            total_loss, count = total_loss + float(loss.detach()), count + 1
            if count % 20 == 0 or step + 1 == steps_per_epoch:
                elapsed = time.monotonic() - started
                remaining = (steps_per_epoch - step - 1) * elapsed / count
                log_progress(
                    f"epoch {epoch + 1}/{config.epochs} step {step + 1}/{steps_per_epoch} "
                    f"loss {total_loss / count:.3f} "
                    f"{count * config.batch_size / elapsed:.0f} crops/s, epoch ends in {remaining / 60:.1f} min"
                )
            if time.monotonic() - last_save > config.checkpoint_minutes * 60:
                save(last)
                last_save = time.monotonic()
        ap = tooth_metrics(unconditional(predict(model, val_crops, prep, device)), val_crops, thresholds=None)
        metrics = {f"ap_{name}": by_source["all"]["ap"] for name, by_source in ap.items()}
        mean_ap = float(np.nanmean(list(metrics.values())))
        record = {"epoch": epoch + 1, "loss": total_loss / max(count, 1), **metrics, "val_mean_ap": mean_ap}
        with (run_dir / "metrics.jsonl").open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        log_progress(f"epoch {epoch + 1} done: " + ", ".join(f"{k} {v:.3f}" for k, v in record.items() if k != "epoch"))
        state["epoch"] += 1
        state["step_in_epoch"] = 0
        if mean_ap > state["best_ap"]:
            state["best_ap"] = mean_ap
            save(run_dir / "best.pt")
        if keep_every_epoch:
            save(run_dir / f"epoch-{epoch + 1}.pt")
        save(last)
        last_save = time.monotonic()
    summary = {"epochs": config.epochs, "best_val_mean_ap": state["best_ap"], "run_dir": str(run_dir)}
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
