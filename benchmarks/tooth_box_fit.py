"""How well the detector's tooth boxes fit the polygon-tight labelled boxes of the same teeth.

Usage: .venv/bin/python benchmarks/tooth_box_fit.py [--model PATH.onnx] [--split val] [--limit N]

Runs the shipped detector on a split of the tooth datasets (Tufts and UFBA-425, UFBA's stretch undone as
``xrayreport evaluate`` does), keeps the teeth it reports (shipped threshold), matches them one-to-one to the
labelled teeth at IoU >= 0.5 (``greedy_match``), and prints per source and overall the medians of:

* ``w ratio`` / ``h ratio``: predicted / true width and height;
* ``dx`` / ``dy``: predicted minus true centre, in true widths / heights (where the box sits);
* ``left``, ``right``, ``top``, ``bottom``: how far each predicted edge lies outside the true one, in true
  widths / heights (positive: the box is larger on that side), so a size excess shows on both sides and a
  shift on one;
* ``IoU`` of the matched pairs, and ``IoU, size corrected``: the IoU after scaling every predicted box about
  its centre by 1 / the median ratios of this run (what a per-axis size correction would give; measured on
  the same split, so an upper bound);

and the median width ratio per tooth type. Reads the scans in place from ../shared/datasets; nothing is
written.
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from xrayreport.detection.detector import Detector, default_model_path
from xrayreport.training.datasets import load_dataset_config, load_split, read_sample_image
from xrayreport.training.evaluate import greedy_match, iou_matrix

REPO = Path(__file__).resolve().parents[1]
DATA_ROOT = REPO.parent / "shared" / "datasets"
DATASETS = [REPO / "datasets" / f"{name}.yaml" for name in ("tufts", "ufba425")]
TOOTH_TYPES = {"1": "incisor", "2": "incisor", "3": "canine", "4": "premolar", "5": "premolar"}
COLUMNS = ("w ratio", "h ratio", "dx", "dy", "left", "right", "top", "bottom", "IoU")


def pair_measures(predicted: NDArray[np.float64], true: NDArray[np.float64]) -> dict[str, float]:
    """The per-pair measures of the module docstring for one predicted and one true [x1, y1, x2, y2] box."""
    pw, ph = predicted[2] - predicted[0], predicted[3] - predicted[1]
    tw, th = true[2] - true[0], true[3] - true[1]
    return {
        "w ratio": pw / tw,
        "h ratio": ph / th,
        "dx": ((predicted[0] + predicted[2]) - (true[0] + true[2])) / 2 / tw,
        "dy": ((predicted[1] + predicted[3]) - (true[1] + true[3])) / 2 / th,
        "left": (true[0] - predicted[0]) / tw,
        "right": (predicted[2] - true[2]) / tw,
        "top": (true[1] - predicted[1]) / th,
        "bottom": (predicted[3] - true[3]) / th,
        "IoU": float(iou_matrix(predicted[None], true[None])[0, 0]),
    }


def scaled(boxes: NDArray[np.float64], sx: float, sy: float) -> NDArray[np.float64]:
    """``boxes`` (N, 4) scaled about their centres by ``sx`` horizontally and ``sy`` vertically."""
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    hw, hh = (boxes[:, 2] - boxes[:, 0]) / 2 * sx, (boxes[:, 3] - boxes[:, 1]) / 2 * sy
    return np.stack([cx - hw, cy - hh, cx + hw, cy + hh], axis=1)


def median_row(name: str, rows: list[dict[str, float]], corrected_iou: float | None = None) -> str:
    cells = [f"{statistics.median(r[c] for r in rows):>7.3f}" for c in COLUMNS]
    extra = f"{corrected_iou:>9.3f}" if corrected_iou is not None else ""
    return f"{name:<10} {len(rows):>6} " + " ".join(cells) + extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument("--split", default="val", choices=("train", "val", "test"))
    parser.add_argument("--limit", type=int, help="use only the first N images of each dataset")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    detector = Detector(args.model, threads=args.threads)
    threshold = detector.config.score_thresholds["tooth"]
    rows: dict[str, list[dict[str, float]]] = defaultdict(list)
    pairs: dict[str, list[tuple[NDArray[np.float64], NDArray[np.float64]]]] = defaultdict(list)
    by_type: dict[str, list[float]] = defaultdict(list)
    for dataset in DATASETS:
        config = load_dataset_config(dataset, DATA_ROOT)
        for sample in load_split(config, args.split)[: args.limit]:
            pixels, annotations = read_sample_image(sample)
            teeth = [d for d in detector.detect(pixels) if d.label == "tooth" and d.score >= threshold]
            truth = [a for a in annotations if a.label == "tooth"]
            predicted = np.array([d.box for d in teeth], dtype=np.float64).reshape(-1, 4)
            true = np.array([a.box for a in truth], dtype=np.float64).reshape(-1, 4)
            for p, t in greedy_match(predicted, np.array([d.score for d in teeth]), true):
                measures = pair_measures(predicted[p], true[t])
                for group in (config.name, "all"):
                    rows[group].append(measures)
                    pairs[group].append((predicted[p], true[t]))
                fdi = truth[t].fdi or "00"
                by_type["molar" if fdi[1] in "678" and fdi[0] in "1234" else TOOTH_TYPES.get(fdi[1], "molar")].append(
                    measures["w ratio"]
                )

    print(f"{args.model.name}, {args.split} split, teeth matched at IoU >= 0.5 (medians)")
    print(f"{'source':<10} {'teeth':>6} " + " ".join(f"{c:>7}" for c in COLUMNS) + "  IoU, size corrected")
    correction = (
        1 / statistics.median(r["w ratio"] for r in rows["all"]),
        1 / statistics.median(r["h ratio"] for r in rows["all"]),
    )
    for group, group_rows in rows.items():
        predicted = np.array([p for p, _ in pairs[group]])
        true = np.array([t for _, t in pairs[group]])
        corrected = scaled(predicted, *correction)
        ious = [float(iou_matrix(corrected[i : i + 1], true[i : i + 1])[0, 0]) for i in range(len(true))]
        print(median_row(group, group_rows, statistics.median(ious)))
    widths = [r["w ratio"] for r in rows["all"]]
    print(
        f"width ratio, all: mean {statistics.fmean(widths):.3f}, quartiles "
        + ", ".join(f"{q:.3f}" for q in statistics.quantiles(widths, n=4))
        + f"; share of boxes over 1.2 x as wide: {np.mean(np.array(widths) > 1.2):.1%}"
    )
    print(f"size correction from these medians: width x {correction[0]:.3f}, height x {correction[1]:.3f}")
    print(
        "median width ratio per tooth type: " + ", ".join(f"{k} {statistics.median(v):.3f}" for k, v in by_type.items())
    )


if __name__ == "__main__":
    main()
