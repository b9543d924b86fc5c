"""Shared fixtures: paths to the real panoramics in ../shared/datasets, a tiny exported detector."""

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
