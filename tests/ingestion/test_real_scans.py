"""Real panoramics from ../shared/datasets, read in place (never copied), sizes as the datasets' README says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xrayreport.cli import main
from xrayreport.ingestion import load_scan

# folder -> (width, height) and how its greyscale pixels are stored, per ../shared/datasets/README.md.
DATASETS = {
    "tufts": ((1024, 533), "MONOCHROME2"),
    "ufba425": ((512, 512), "RGB"),
    "dental-radiography": ((640, 640), "RGB"),
    "dc1000-subset": ((2943, 1435), "MONOCHROME2"),
}
PER_FOLDER = 3


def sample(datasets_dir: Path, folder: str) -> list[Path]:
    images = sorted((datasets_dir / folder / "images").iterdir())
    assert images, f"no images in {folder}"
    return images[:PER_FOLDER]


@pytest.mark.parametrize("folder", list(DATASETS))
def test_real_panoramics_load_at_their_documented_size(datasets_dir: Path, folder: str) -> None:
    (width, height), photometric = DATASETS[folder]
    for path in sample(datasets_dir, folder):
        radiograph = load_scan(path)
        assert (radiograph.width, radiograph.height) == (width, height), path.name
        assert radiograph.pixels.shape == (height, width) and radiograph.pixels.dtype == np.uint8
        assert (radiograph.file_format, radiograph.bits_stored, radiograph.photometric) == ("JPEG", 8, photometric)
        assert radiograph.source_name == path.name
        # A real radiograph uses most of the grey range; a blank or failed decode would not.
        assert int(radiograph.pixels.max()) - int(radiograph.pixels.min()) > 150


def test_inspect_reads_real_panoramics(datasets_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = [sample(datasets_dir, folder)[0] for folder in DATASETS]
    assert main(["inspect", *map(str, paths)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    for path, ((width, height), photometric) in zip(paths, DATASETS.values(), strict=True):
        block = out[out.index(path.name + "\n") :].split("\n")[:8]
        assert f"  size:        {width} x {height} px" in block
        assert f"  photometric: {photometric}" in block
        assert "  patient:     no identity fields" in block
