"""Platt scaling, expected calibration error and reliability bins, on hand-computed cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xrayreport.training.calibration import (
    expected_calibration_error,
    fit_platt,
    plot_reliability,
    reliability,
)


def test_platt_scaling_recovers_the_scaling_that_made_the_labels() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, 20_000)
    # The network is overconfident: the truth is sigmoid(0.5 * logit - 1).
    labels = (rng.random(logits.size) < 1 / (1 + np.exp(-(0.5 * logits - 1)))).astype(np.float64)
    slope, intercept = fit_platt(1 / (1 + np.exp(-logits)), labels)  # type: ignore[misc]
    assert abs(slope - 0.5) < 0.05 and abs(intercept + 1) < 0.08


def test_platt_scaling_refuses_too_few_positives() -> None:
    assert fit_platt(np.full(100, 0.3), np.r_[np.ones(4), np.zeros(96)]) is None


def test_expected_calibration_error_by_hand() -> None:
    # Bin 0.8-0.9: scores 0.8, 0.8 with one positive (observed 0.5, error 0.3); bin 0.1-0.2: 0.1, 0.1, none
    # positive (error 0.1). Weighted: 0.5 * 0.3 + 0.5 * 0.1 = 0.2.
    scores = np.array([0.8, 0.8, 0.1, 0.1])
    labels = np.array([1.0, 0.0, 0.0, 0.0])
    assert expected_calibration_error(scores, labels) == 0.2
    assert reliability(scores, labels) == [
        {"bin": [0.1, 0.2], "teeth": 2, "mean_score": 0.1, "observed": 0.0},
        {"bin": [0.8, 0.9], "teeth": 2, "mean_score": 0.8, "observed": 0.5},
    ]
    # A perfectly calibrated score has no error; a score of exactly 1.0 falls in the last bin.
    assert expected_calibration_error(np.array([1.0, 1.0, 0.0]), np.array([1.0, 1.0, 0.0])) == 0.0


def test_the_reliability_plot_is_written(tmp_path: Path) -> None:
    curves = {"caries": reliability(np.array([0.2, 0.7, 0.9]), np.array([0.0, 1.0, 1.0]))}
    plot_reliability(curves, tmp_path / "r.png", "title")
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
