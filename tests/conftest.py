"""Shared fixtures: paths to the real panoramics in ../shared/datasets, tiny exported models of both stages."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    if not DATASETS.is_dir():
        pytest.skip(f"real panoramics not found at {DATASETS}")
    return DATASETS


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An exported detector with random weights at a small input size (contract tests; needs the [train] extra)."""
    from detection.tiny_model import export_untrained_model

    return export_untrained_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def tiny_tooth_classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An exported second-stage tooth classifier with random weights (needs the [train] extra)."""
    from detection.tiny_model import export_untrained_tooth_classifier

    return export_untrained_tooth_classifier(tmp_path_factory.mktemp("tiny-teeth"))
