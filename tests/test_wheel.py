"""A wheel install (``pip install .``, not editable) on a fresh virtualenv analyses a scan with the shipped
models: the ONNX files and their JSON are package data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _copy_source(target: Path) -> None:
    """What ``pip install .`` reads, copied so the build leaves nothing (build/, egg-info) in the checkout."""
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, target / name)
    shutil.copytree(REPO / "xrayreport", target / "xrayreport", ignore=shutil.ignore_patterns("__pycache__"))
    (target / "models").mkdir()
    for model in [*(REPO / "models").glob("*.onnx"), *(REPO / "models").glob("*.json")]:
        shutil.copy2(model, target / "models" / model.name)


def _scan(path: Path) -> Path:
    """A panoramic-sized greyscale PNG: a bright arch of tooth-like bars over noise."""
    rng = np.random.default_rng(11)
    pixels = rng.integers(30, 80, size=(1000, 2000), dtype=np.uint8)
    for i in range(16):
        x = 300 + i * 90
        cv2.rectangle(pixels, (x, 250), (x + 60, 480), 200, -1)
        cv2.rectangle(pixels, (x, 520), (x + 60, 750), 200, -1)
    assert cv2.imwrite(str(path), pixels)
    return path


def test_a_wheel_install_analyses_a_scan_with_the_shipped_models(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    _copy_source(source)
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "XRAYREPORT_MODEL")}
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    # --no-build-isolation: setuptools of this environment, no download.
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(source)],
        check=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    wheel = next((tmp_path / "dist").glob("xrayreport-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    subprocess.run([*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)], check=True)
    # The dependencies come from this environment's site-packages as a plain path entry (added after the
    # install, so pip never sees this environment's xrayreport): its .pth files, the editable install of the
    # checkout among them, are not run.
    deps = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (Path(site) / "xrayreport-test-deps.pth").write_text("".join(f"{path}\n" for path in deps))
    where = subprocess.run(
        [python, "-c", "import xrayreport; print(xrayreport.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    ).stdout.strip()
    assert Path(where).is_relative_to(site), where

    scan = _scan(tmp_path / "scan.png")
    result = subprocess.run(
        [venv / "bin" / "xrayreport", "analyze", str(scan), "-o", str(tmp_path / "findings.json")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    model = json.loads((tmp_path / "findings.json").read_text())["model"]
    assert model["name"] == "detector-v1"
    assert model["second_stage"]["name"] == "tooth-findings-v1"
