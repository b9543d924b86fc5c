"""Build hook: a wheel carries the shipped models (the default detector and the second stage its JSON names) as
``xrayreport/_models/``, so ``pip install .`` analyses scans. Everything else is declared in pyproject.toml.

An editable install (``pip install -e .``) reads them from ``models/`` in the checkout instead.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

MODELS = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL = "detector-v1.onnx"  # xrayreport.detection.detector.DEFAULT_MODEL


def shipped_model_files() -> list[Path]:
    """The default detector's ONNX and JSON, then those of each stage it names (``second_stage``)."""
    files: list[Path] = []
    name: str | None = DEFAULT_MODEL
    while name is not None:
        onnx = MODELS / name
        config = onnx.with_suffix(".json")
        if not onnx.is_file() or not config.is_file():
            raise SystemExit(f"cannot build xrayreport: {onnx} or its JSON is missing")
        files += [onnx, config]
        name = json.loads(config.read_text(encoding="utf-8")).get("second_stage")
    return files


class BuildWithModels(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "xrayreport" / "_models"
        target.mkdir(parents=True, exist_ok=True)
        for path in shipped_model_files():
            shutil.copyfile(path, target / path.name)


setup(cmdclass={"build_py": BuildWithModels})
