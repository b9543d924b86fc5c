"""``analyze FOLDER --ray``: the single-process path's files, byte for byte, from Ray actors; bad files reported and
skipped; a rerun resumes. One local Ray cluster (two CPUs) serves the whole module: it takes seconds to start."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from xrayreport.cli import main

ray = pytest.importorskip("ray", reason="Ray analysis needs the [archive] extra")

from xrayreport.archive.ray_analysis import analyse_on_ray, ray_cluster  # noqa: E402
from xrayreport.detection.batch import plan_batch  # noqa: E402
from xrayreport.errors import XrayReportError  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    """The command's own local cluster, started once, with at least the two CPUs ``--workers 2`` asks for even on a
    one-CPU machine; ``--ray`` then finds Ray initialised and uses it."""
    with ray_cluster(None, cpus=2):
        assert ray.is_initialized() and ray.cluster_resources()["CPU"] == max(2, os.cpu_count() or 1)
        yield
    assert not ray.is_initialized()


def files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """Four noise scans and a PNG that is not one."""
    folder = tmp_path / "archive"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for name in ("a.png", "b.png", "c.jpg", "d.png"):
        assert cv2.imwrite(str(folder / name), rng.integers(0, 255, size=(400, 800), dtype=np.uint8))
    (folder / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    return folder


def test_the_same_files_as_one_process_and_a_bad_file_reported_once(
    tiny_model: Path, archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain, on_ray = tmp_path / "plain", tmp_path / "ray"
    common = ["--model", str(tiny_model), "--overlay"]
    assert main(["analyze", str(archive), "-o", str(plain), *common, str(plain)]) == 1
    capsys.readouterr()
    assert main(["analyze", str(archive), "-o", str(on_ray), *common, str(on_ray), "--ray", "--workers", "2"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert sorted(files(on_ray)) == [f"{stem}.{kind}" for stem in "abcd" for kind in ("json", "png")]
    assert files(on_ray) == files(plain)
    errors = [line for line in err if line.startswith("xrayreport: error:")]
    assert len(errors) == 1 and errors[0].startswith("xrayreport: error: bad.png: "), err
    progress = sorted(line.split(" (")[0].split("] ")[1] for line in err if line.startswith("["))
    assert progress == [f"{name}: 0 teeth, 0 findings" for name in ("a.png", "b.png", "c.jpg", "d.png")]
    assert err[-1] == f"analysed 4 of 5 scans into {on_ray}"


def test_real_panoramics_with_the_shipped_model_match_the_plain_loop(datasets_dir: Path, tmp_path: Path) -> None:
    scans = tmp_path / "scans"
    scans.mkdir()
    for source in (datasets_dir / "tufts" / "images" / "1.jpg", datasets_dir / "ufba425" / "images"):
        shutil.copy(source if source.is_file() else sorted(source.iterdir())[0], scans)
    assert main(["analyze", str(scans), "-o", str(tmp_path / "plain")]) == 0
    assert main(["analyze", str(scans), "-o", str(tmp_path / "ray"), "--ray"]) == 0
    assert files(tmp_path / "ray") == files(tmp_path / "plain")
    assert b'"teeth": [\n    {' in files(tmp_path / "ray")["1.json"]  # the shipped model finds teeth


def test_a_rerun_skips_what_is_done_and_analyses_what_changed(
    tiny_model: Path, archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    command = ["analyze", str(archive), "-o", str(out), "--model", str(tiny_model), "--ray"]
    assert main(command) == 1
    before = files(out)
    (archive / "bad.png").unlink()
    (out / "b.json").unlink()
    shutil.copy(archive / "a.png", archive / "c.jpg")  # another scan under an analysed name
    capsys.readouterr()
    assert main(command) == 0
    err = capsys.readouterr().err.splitlines()
    progress = sorted(line.split(" (")[0].split("] ")[1] for line in err if line.startswith("["))
    assert progress == [
        "a.png: already analysed with these models",
        "b.png: 0 teeth, 0 findings",
        "c.jpg: 0 teeth, 0 findings",
        "d.png: already analysed with these models",
    ]
    assert err[-1] == f"analysed 4 of 4 scans into {out} (2 already analysed with these models, skipped)"
    after = files(out)
    assert after["a.json"] == before["a.json"] and after["b.json"] == before["b.json"]
    assert after["c.json"] != before["c.json"]


def test_a_model_a_worker_cannot_load_is_one_error(archive: Path, tmp_path: Path) -> None:
    jobs, _ = plan_batch([archive], tmp_path / "out", None)
    with pytest.raises(XrayReportError, match="detection model not found"):
        list(analyse_on_ray(jobs, tmp_path / "none.onnx", workers=1))
    with pytest.raises(XrayReportError, match="counted from 1"):
        list(analyse_on_ray(jobs, workers=0))


def test_workers_the_cluster_cannot_place_are_refused_before_any_starts(archive: Path, tmp_path: Path) -> None:
    jobs, _ = plan_batch([archive], tmp_path / "out", None)
    cpus = int(ray.cluster_resources()["CPU"])
    with pytest.raises(XrayReportError, match=f"it holds {cpus} such workers; give --workers {cpus} or fewer$"):
        list(analyse_on_ray(jobs, workers=cpus + 1))
    with pytest.raises(XrayReportError, match=f"the Ray cluster's largest node has {cpus}; give --threads {cpus} "):
        list(analyse_on_ray(jobs, threads=cpus + 1))
    assert not (tmp_path / "out").exists()
