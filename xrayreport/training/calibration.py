"""Scores that mean what they say: Platt scaling per class, expected calibration error, reliability plots.

A tooth classifier's raw sigmoid is shaped by how often each source showed a finding during training (DENTEX
crops are nearly all diseased, draws lift rare findings to 30 %), not by how common it is in a clinic. Platt
scaling fits ``sigmoid(slope * logit + intercept)`` on validation teeth at a realistic prevalence, so that of
the teeth scored 0.7, about 70 % have the finding. The fitted pairs travel in the model's JSON
(``calibration``) and are applied in :func:`xrayreport.detection.tooth_findings.calibrated`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

BINS = 10  # equal-width probability bins for the expected calibration error and the reliability plot
MIN_POSITIVES = 5  # fewer known positives than this: a fit would follow noise, so the class stays as it is


def fit_platt(probabilities: NDArray[np.float64], labels: NDArray[np.float64]) -> tuple[float, float] | None:
    """(slope, intercept) on the logit minimising log loss over (N,) ``probabilities`` and 0/1 ``labels``;
    None when there are too few positives or negatives to fit."""
    positives = int(labels.sum())
    if positives < MIN_POSITIVES or len(labels) - positives < MIN_POSITIVES:
        return None
    clipped = np.clip(probabilities, 1e-6, 1 - 1e-6)
    logits = np.log(clipped / (1 - clipped))

    def loss(params: NDArray[np.float64]) -> float:
        z = params[0] * logits + params[1]
        # log(1 + e^z) - y z, written to stay finite for large |z|
        return float(np.mean(np.logaddexp(0.0, z) - labels * z))

    result = minimize(loss, np.array([1.0, 0.0]), method="Nelder-Mead", options={"xatol": 1e-4, "fatol": 1e-7})
    slope, intercept = (float(v) for v in result.x)
    return round(slope, 4), round(intercept, 4)


def expected_calibration_error(probabilities: NDArray[np.float64], labels: NDArray[np.float64]) -> float:
    """Mean |predicted - observed| over :data:`BINS` equal-width bins, weighted by the share of teeth in each."""
    if len(labels) == 0:
        return float("nan")
    bins = np.minimum((probabilities * BINS).astype(int), BINS - 1)
    error = 0.0
    for b in range(BINS):
        inside = bins == b
        if inside.any():
            error += inside.mean() * abs(probabilities[inside].mean() - labels[inside].mean())
    return round(float(error), 4)


def reliability(probabilities: NDArray[np.float64], labels: NDArray[np.float64]) -> list[dict[str, Any]]:
    """Per non-empty bin: its range, the teeth in it, the mean score and the observed share with the finding."""
    bins = np.minimum((probabilities * BINS).astype(int), BINS - 1)
    rows = []
    for b in range(BINS):
        inside = bins == b
        if inside.any():
            rows.append(
                {
                    "bin": [b / BINS, (b + 1) / BINS],
                    "teeth": int(inside.sum()),
                    "mean_score": round(float(probabilities[inside].mean()), 4),
                    "observed": round(float(labels[inside].mean()), 4),
                }
            )
    return rows


def plot_reliability(curves: dict[str, list[dict[str, Any]]], path: Path, title: str) -> None:
    """One reliability diagram per class (mean score against observed share, dot size by teeth) in one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(curves)
    figure, axes = plt.subplots(1, max(len(names), 1), figsize=(3.2 * max(len(names), 1), 3.4), squeeze=False)
    for axis, name in zip(axes[0], names, strict=False):
        rows = curves[name]
        axis.plot([0, 1], [0, 1], color="0.7", linewidth=1)
        if rows:
            x = [r["mean_score"] for r in rows]
            y = [r["observed"] for r in rows]
            sizes = [max(8.0, 60.0 * np.log10(1 + r["teeth"])) for r in rows]
            axis.plot(x, y, color="tab:blue", linewidth=1)
            axis.scatter(x, y, s=sizes, color="tab:blue", zorder=3)
        axis.set_title(name, fontsize=9)
        axis.set_xlim(0, 1)
        axis.set_ylim(0, 1)
        axis.set_xlabel("score", fontsize=8)
        axis.set_ylabel("share with the finding", fontsize=8)
        axis.tick_params(labelsize=7)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
