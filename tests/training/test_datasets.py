"""Dataset adapters on tiny hand-written datasets (COCO, YOLO, masks), and the real dataset configs."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from xrayreport.errors import UnknownNameError, XrayReportError
from xrayreport.training.datasets import (
    Annotation,
    DatasetConfig,
    load_dataset_config,
    load_split,
    read_sample_image,
)

REPO = Path(__file__).resolve().parents[2]


def write_dataset(root: Path, config: dict, split: dict[str, list[str]], images: dict[str, tuple[int, int]]) -> Path:
    """A dataset under ``root/data`` with blank images of the given (width, height); returns its YAML path."""
    for name, (width, height) in images.items():
        (root / "data" / "images").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "data" / "images" / name), np.zeros((height, width), np.uint8))
    (root / "split.json").write_text(json.dumps({"train": [], "val": [], "test": [], **split}))
    path = root / "dataset.yaml"
    path.write_text(yaml.safe_dump({"name": "mine", "root": "data", "split_file": "split.json", **config}))
    return path


def coco(categories: list[str], annotations: list[tuple[int, str, list[float]]], images: list[str]) -> dict:
    names = {name: i + 1 for i, name in enumerate(categories)}
    return {
        "images": [{"id": i + 1, "file_name": name} for i, name in enumerate(images)],
        "categories": [{"id": i, "name": name} for name, i in names.items()],
        "annotations": [
            {"id": k, "image_id": image, "category_id": names[name], "bbox": bbox}
            for k, (image, name, bbox) in enumerate(annotations)
        ],
    }


def test_coco_with_fdi_category_names(tmp_path: Path) -> None:
    images = ["a.png", "b.png", "unlabelled.png"]
    data = coco(
        ["11", "36", "55"],
        [(1, "11", [10, 20, 30, 40]), (1, "55", [50, 20, 10, 10]), (2, "36", [5, 5, 10, 10]), (2, "36", [0, 0, 0, 5])],
        images,
    )
    config = {"format": "coco", "annotations": "coco.json", "labelled": ["tooth"]}
    path = write_dataset(tmp_path, config, {"train": ["b.png", "a.png"]}, dict.fromkeys(images, (100, 50)))
    (tmp_path / "data" / "coco.json").write_text(json.dumps(data))
    samples = load_split(load_dataset_config(path, tmp_path), "train")
    assert [s.image_path.name for s in samples] == ["b.png", "a.png"]  # in split-file order
    # COCO boxes are [x, y, width, height]; a zero-width box is dropped.
    assert samples[0].annotations == (Annotation((5, 5, 15, 15), "tooth", "36"),)
    assert samples[1].annotations == (
        Annotation((10, 20, 40, 60), "tooth", "11"),
        Annotation((50, 20, 60, 30), "tooth", "55"),
    )
    assert samples[1].labelled == frozenset({"tooth"}) and samples[1].source == "mine"
    assert samples[1].image_path == tmp_path / "data" / "images" / "a.png"


def test_an_image_without_annotations_is_unlabelled_not_toothless(tmp_path: Path) -> None:
    images = ["a.png", "unlabelled.png"]
    config = {"format": "coco", "annotations": "coco.json", "labelled": ["tooth"]}
    path = write_dataset(tmp_path, config, {"test": ["unlabelled.png"]}, dict.fromkeys(images, (100, 50)))
    (tmp_path / "data" / "coco.json").write_text(json.dumps(coco(["11"], [(1, "11", [1, 1, 5, 5])], images)))
    with pytest.raises(XrayReportError, match=r"1 images of split 'test' are not in the dataset \(e.g. unlabelled"):
        load_split(load_dataset_config(path, tmp_path), "test")


def test_coco_names_that_are_not_fdi_numbers_need_a_class_map(tmp_path: Path) -> None:
    config = {"format": "coco", "annotations": "coco.json", "labelled": ["tooth"]}
    path = write_dataset(tmp_path, config, {"train": ["a.png"]}, {"a.png": (10, 10)})
    (tmp_path / "data" / "coco.json").write_text(json.dumps(coco(["molar"], [(1, "molar", [1, 1, 2, 2])], ["a.png"])))
    with pytest.raises(XrayReportError, match="category 'molar' is not an FDI tooth number; add a class_map"):
        load_split(load_dataset_config(path, tmp_path), "train")


def test_a_category_missing_from_the_class_map_lists_the_mapped_names(tmp_path: Path) -> None:
    config = {"format": "coco", "annotations": "coco.json", "labelled": ["caries"], "class_map": {"Cavity": "caries"}}
    path = write_dataset(tmp_path, config, {"train": ["a.png"]}, {"a.png": (10, 10)})
    data = coco(["Cavity", "Crown"], [(1, "Cavity", [1, 1, 2, 2]), (1, "Crown", [3, 3, 2, 2])], ["a.png"])
    (tmp_path / "data" / "coco.json").write_text(json.dumps(data))
    with pytest.raises(UnknownNameError, match=r"unknown mine category 'Crown'; valid .* are: Cavity$"):
        load_split(load_dataset_config(path, tmp_path), "train")


def test_yolo_with_a_class_map(tmp_path: Path) -> None:
    config = {
        "format": "yolo",
        "labels": "labels",
        "yolo_names": ["Cavity", "Fillings"],
        "class_map": {"Cavity": "caries", "Fillings": "restoration"},
        "labelled": ["caries", "restoration"],
    }
    path = write_dataset(tmp_path, config, {"val": ["a.png", "b.png"]}, {"a.png": (100, 50), "b.png": (100, 50)})
    (tmp_path / "data" / "labels").mkdir()
    # class cx cy w h, normalised: a 20 x 20 px box centred at (50, 25), a 10 x 5 px one at the top-left corner.
    (tmp_path / "data" / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.4\n1 0.05 0.05 0.1 0.1\n\n")
    samples = load_split(load_dataset_config(path, tmp_path), "val")
    assert [a.label for a in samples[0].annotations] == ["caries", "restoration"]
    np.testing.assert_allclose([a.box for a in samples[0].annotations], [[40, 15, 60, 35], [0, 0, 10, 5]])
    assert all(a.fdi is None for a in samples[0].annotations)
    # An image without a label file has nothing of the labelled classes: an honest negative.
    assert samples[1].annotations == () and samples[1].labelled == frozenset({"caries", "restoration"})


def test_masks_become_one_box_per_connected_region(tmp_path: Path) -> None:
    config = {"format": "masks", "labels": "masks", "class_map": {"caries": "caries"}, "labelled": ["caries"]}
    path = write_dataset(tmp_path, config, {"train": ["a.png", "b.png"]}, {"a.png": (60, 40), "b.png": (60, 40)})
    mask = np.zeros((40, 60), np.uint8)
    mask[5:10, 5:15] = 255  # 10 x 5
    mask[10:20, 15:20] = 255  # touches the first one at a corner: 8-connected, one lesion
    mask[30:35, 40:50] = 255  # a second lesion
    mask[0:3, 55:58] = 255  # 9 px: annotation noise
    (tmp_path / "data" / "masks").mkdir()
    cv2.imwrite(str(tmp_path / "data" / "masks" / "a.png"), mask)
    cv2.imwrite(str(tmp_path / "data" / "masks" / "b.png"), np.zeros((40, 60), np.uint8))
    samples = load_split(load_dataset_config(path, tmp_path), "train")
    assert sorted(samples[0].annotations, key=lambda a: a.box) == [
        Annotation((5, 5, 20, 20), "caries"),
        Annotation((40, 30, 50, 35), "caries"),
    ]
    assert samples[1].annotations == ()  # an empty mask: this image has no caries


CLASSES = "caries, impacted, implant, restoration, tooth$"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "voc"}, "unknown dataset format 'voc'; valid .* are: coco, masks, xrayreport-export, yolo$"),
        ({"labelled": ["cavity"]}, "unknown detector class 'cavity'; valid .* are: " + CLASSES),
        ({"class_map": {"Cavity": "hole"}}, "unknown detector class 'hole'; valid .* are: " + CLASSES),
    ],
)
def test_unknown_names_in_a_dataset_config_list_the_valid_ones(tmp_path: Path, change: dict, message: str) -> None:
    path = write_dataset(tmp_path, {"format": "coco", "labelled": ["tooth"], **change}, {}, {})
    with pytest.raises(UnknownNameError, match=message):
        load_dataset_config(path, tmp_path)


def test_an_unknown_split_lists_the_splits(tmp_path: Path) -> None:
    config = DatasetConfig("mine", "coco", tmp_path, frozenset({"tooth"}), tmp_path / "split.json")
    with pytest.raises(UnknownNameError, match="valid splits are: test, train, val"):
        load_split(config, "validation")


def test_a_stretched_dataset_is_unstretched_with_its_boxes(tmp_path: Path) -> None:
    config = {
        "format": "yolo",
        "labels": "labels",
        "yolo_names": ["Implant"],
        "class_map": {"Implant": "implant"},
        "labelled": ["implant"],
        "original_size": [512, 256],  # stored as 64 x 64, really twice as wide as high
    }
    path = write_dataset(tmp_path, config, {"train": ["a.png"]}, {"a.png": (64, 64)})
    (tmp_path / "data" / "labels").mkdir()
    (tmp_path / "data" / "labels" / "a.txt").write_text("0 0.5 0.5 0.25 0.5\n")
    (sample,) = load_split(load_dataset_config(path, tmp_path), "train")
    assert sample.original_aspect == 2.0
    image, annotations = read_sample_image(sample)
    assert image.shape == (64, 128)
    assert annotations == [Annotation((48, 16, 80, 48), "implant")]


# name -> (train, val, test) sizes, as fixed in datasets/splits/*.json and documented in ../shared/datasets.
REAL_SPLITS = {
    "tufts": (774, 97, 97),
    "ufba425": (341, 42, 42),
    "dental-radiography": (556, 74, 112),
    "dc1000": (39, 10, 21),
}


@pytest.mark.parametrize("name", list(REAL_SPLITS))
def test_the_shipped_dataset_configs_load_with_disjoint_splits(datasets_dir: Path, name: str) -> None:
    config = load_dataset_config(REPO / "datasets" / f"{name}.yaml", datasets_dir)
    split_file = json.loads(config.split_file.read_text())
    splits = {split: load_split(config, split) for split in ("train", "val", "test")}
    assert tuple(len(splits[s]) for s in ("train", "val", "test")) == REAL_SPLITS[name]
    assert {s: [x.image_path.name for x in samples] for s, samples in splits.items()} == split_file
    names = [x.image_path.name for samples in splits.values() for x in samples]
    assert len(set(names)) == len(names), "an image is in two splits"
    sample = splits["val"][0]
    assert sample.image_path.is_file() and sample.labelled == config.labelled
    image, annotations = read_sample_image(sample)
    height, width = image.shape
    assert width > height  # stretched sets are unstretched to a panoramic's proportions
    for annotation in annotations:
        x1, y1, x2, y2 = annotation.box
        assert 0 <= x1 < x2 <= width + 1 and 0 <= y1 < y2 <= height + 1, annotation
        assert annotation.label in config.labelled
        assert (annotation.fdi is not None) == (annotation.label == "tooth")
