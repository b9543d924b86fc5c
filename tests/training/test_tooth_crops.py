"""Tooth crops and their labels: finding boxes -> per-tooth 1/0/unknown, crop folders, LabelBox lesions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from xrayreport.errors import UnknownNameError, XrayReportError
from xrayreport.training.tooth_crops import (
    MAX_STORED_HEIGHT,
    UNKNOWN,
    CropSource,
    ToothTrainConfig,
    complete_labels,
    label_vector,
    load_crops,
    load_tooth_train_config,
    spread_over_labels,
    tooth_labels,
    validate_source,
)

REPO = Path(__file__).resolve().parents[2]
LEFT, RIGHT = (0.0, 0.0, 10.0, 20.0), (10.0, 0.0, 20.0, 20.0)
BOTH = frozenset({"caries", "periapical_lesion"})


def test_a_finding_inside_a_tooth_makes_it_positive_and_its_neighbour_negative() -> None:
    labels = tooth_labels([LEFT, RIGHT], {"caries": [(2, 2, 6, 6)]}, BOTH)
    assert labels == [{"caries": 1, "periapical_lesion": 0}, {"caries": 0, "periapical_lesion": 0}]


def test_a_finding_across_two_teeth_goes_to_one_and_leaves_the_other_unknown() -> None:
    # Half of the 4x4 box lies on each tooth: the first best tooth takes it; the other cannot be called free.
    labels = tooth_labels([LEFT, RIGHT], {"caries": [(8, 2, 12, 6)]}, frozenset({"caries"}))
    assert labels == [{"caries": 1}, {}]


def test_a_finding_that_only_grazes_a_tooth_is_on_no_tooth() -> None:
    # 1x4 of a 4x4 box on the left tooth (0.25 < ON_TOOTH): not assigned, but the tooth is no longer "free".
    labels = tooth_labels([LEFT], {"caries": [(9, 2, 13, 6)]}, frozenset({"caries"}))
    assert labels == [{}]


def test_periapical_lesions_reach_past_the_root_tip() -> None:
    # The lesion lies just below the tooth box; the tooth grown by 15 % (3 px down) holds half of it.
    lesion = (2.0, 21.0, 8.0, 25.0)
    assert tooth_labels([LEFT], {"periapical_lesion": [lesion]}, BOTH)[0]["periapical_lesion"] == 1
    assert tooth_labels([LEFT], {"caries": [lesion]}, BOTH)[0]["caries"] == 0


def test_label_vector_knows_depth_only_on_carious_teeth() -> None:
    u = UNKNOWN
    np.testing.assert_array_equal(label_vector({"caries": 1, "deep_caries": 1}), [1, 1, u, u, u, u])
    np.testing.assert_array_equal(label_vector({"caries": 0, "deep_caries": 0, "restoration": 1}), [0, u, u, 1, u, u])
    # A model with fewer outputs (v1) gets a vector of its own classes.
    classes = ("caries", "deep_caries", "periapical_lesion", "restoration")
    np.testing.assert_array_equal(label_vector({"implant": 1, "restoration": 0}, classes), [u, u, u, 0])


def test_labels_imply_what_dentistry_says() -> None:
    # A root canal filling is a restoration of a natural tooth.
    assert complete_labels({"root_canal": 1}) == {"root_canal": 1, "restoration": 1, "implant": 0}
    # A tooth without any restoration has no root canal filling.
    assert complete_labels({"restoration": 0, "caries": 1}) == {"restoration": 0, "caries": 1, "root_canal": 0}
    # An implant cannot decay and has no root to fill; whether its crown is "a restoration" stays unknown.
    assert complete_labels({"implant": 1, "restoration": 1}) == {"implant": 1, "caries": 0, "root_canal": 0}
    assert complete_labels({"caries": 1}) == {"caries": 1}


def test_source_errors_list_the_valid_names() -> None:
    with pytest.raises(UnknownNameError, match="crop-folder, teeth"):
        validate_source({"name": "x", "type": "masks"})
    with pytest.raises(UnknownNameError, match="caries, deep_caries"):
        validate_source({"name": "x", "type": "teeth", "findings": {"caries": "cavity"}})
    with pytest.raises(XrayReportError, match="valid keys are name, type"):
        validate_source({"name": "x", "type": "teeth", "folder": "y"})


def test_shipped_config_reads_and_dentex_crops_load(datasets_dir: Path) -> None:
    config, base = load_tooth_train_config(REPO / "configs" / "tooth-findings-v1.yaml")
    assert [s.name for s in config.sources] == [
        "dentex-crops",
        "dentex-second-clinic",
        "dc1000",
        "dental-radiography",
        "tufts",
    ]
    dentex = validate_source({**vars(_named(config, "dentex-crops")), "limit": 3})
    crops = load_crops(dentex, "val", base, datasets_dir, find_teeth=None)
    assert len(crops) == 3
    for crop in crops:
        assert crop.pixels.dtype == np.uint8 and crop.pixels.shape[0] <= MAX_STORED_HEIGHT
        assert crop.box == (0.0, 0.0, float(crop.pixels.shape[1]), float(crop.pixels.shape[0]))
        assert crop.labels in _named(config, "dentex-crops").labels.values()


@pytest.mark.parametrize(
    "recipe", sorted(p.name for p in (REPO / "configs").glob("*.yaml") if "kind: tooth-findings" in p.read_text())
)
def test_every_tooth_findings_recipe_reads_and_finds_the_weights_it_starts_from(recipe: str) -> None:
    config, base = load_tooth_train_config(REPO / "configs" / recipe)
    assert config.sources
    if config.initial_weights and not (base / config.initial_weights).is_file():
        # Weights models/ no longer holds (an earlier version): the recipe says how to take them from git.
        made = (base / config.initial_weights).resolve().relative_to(REPO)
        assert f":models/tooth-findings-v1.onnx > {made}" in (REPO / "configs" / recipe).read_text(), made


def test_a_limited_crop_folder_takes_each_label_in_turn() -> None:
    rows = [{"label": label, "n": str(i)} for i, label in enumerate(["Caries"] * 4 + ["Intact"] * 2 + ["Lesion"])]
    assert [r["n"] for r in spread_over_labels(rows, 5)] == ["0", "4", "6", "1", "5"]
    assert spread_over_labels(rows, None) == rows
    assert len(spread_over_labels(rows, 100)) == 7


def test_teeth_source_reads_labelbox_lesions_in_the_original_frame(datasets_dir: Path, tmp_path: Path) -> None:
    config, base = load_tooth_train_config(REPO / "configs" / "tooth-findings-v1.yaml")
    tufts = _named(config, "tufts")
    split = json.loads((REPO / "datasets" / "splits" / "tufts.json").read_text())["val"]
    first = split[0]
    coco = json.loads((datasets_dir / "tufts" / "annotations.coco.json").read_text())
    image_id = next(i["id"] for i in coco["images"] if i["file_name"] == first)
    x, y, w, h = next(a["bbox"] for a in coco["annotations"] if a["image_id"] == image_id)
    # A lesion polygon drawn over the middle of the first labelled tooth, in the 1615x840 original frame.
    scale = 1615 / 1024
    cx, cy = (x + w / 2) * scale, (y + h / 2) * scale
    polygon = [[cx - 3, cy - 3], [cx + 3, cy - 3], [cx + 3, cy + 3], [cx - 3, cy + 3]]
    entry = {"External ID": first.upper(), "Label": {"objects": [{"title": "Periapical", "polygons": [polygon]}]}}
    source = validate_source({**vars(tufts), "limit": 1, "lesions": {**tufts.lesions, "file": "lesions.json"}})
    data_root = tmp_path / "root"
    data_root.mkdir()
    (data_root / "tufts").symlink_to(datasets_dir / "tufts")
    (data_root / "lesions.json").write_text(json.dumps([entry]))
    crops = load_crops(source, "val", base, data_root, find_teeth=None)
    positives = [c for c in crops if c.labels.get("periapical_lesion") == 1]
    negatives = [c for c in crops if c.labels.get("periapical_lesion") == 0]
    assert len(positives) == 1 and len(negatives) > 10


def _named(config: ToothTrainConfig, name: str) -> CropSource:
    return next(s for s in config.sources if s.name == name)


def test_config_errors_are_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(XrayReportError, match="training configuration not found"):
        load_tooth_train_config(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("kind: tooth-findings\nname: [unclosed\n")
    with pytest.raises(XrayReportError, match="not valid YAML"):
        load_tooth_train_config(tmp_path / "bad.yaml")
    (tmp_path / "empty.yaml").write_text("kind: tooth-findings\nname: x\n")
    with pytest.raises(XrayReportError, match="needs a 'sources' list"):
        load_tooth_train_config(tmp_path / "empty.yaml")
    with pytest.raises(UnknownNameError, match="detector, labelled"):
        validate_source({"name": "x", "type": "teeth", "teeth": "predicted"})


def test_second_clinic_crops_split_by_their_panoramic(datasets_dir: Path) -> None:
    config, base = load_tooth_train_config(REPO / "configs" / "tooth-findings-v2.yaml")
    source = next(s for s in config.sources if s.name == "dentex-second-clinic")
    groups = json.loads((REPO / "datasets" / "splits" / "dentex-second-clinic.json").read_text())
    by_split = {split: load_crops(source, split, base, datasets_dir, find_teeth=None) for split in groups}
    panoramics = {split: {c.scan for c in crops} for split, crops in by_split.items()}
    # No panoramic (patient) straddles two splits, and each split holds exactly its listed panoramics' crops.
    assert not panoramics["train"] & panoramics["test"] and not panoramics["val"] & panoramics["test"]
    assert all(panoramics[split] <= set(groups[split]) for split in groups)
    # Each of the three panoramics with healthy ("Intact") teeth went to its own split.
    intact = {split: {c.scan for c in crops if c.tag == "Intact"} for split, crops in by_split.items()}
    assert [len(intact[s]) for s in ("train", "val", "test")] == [1, 1, 1]
    root_canal = next(c for c in by_split["train"] if c.tag == "RootCanal")
    assert root_canal.labels == {"root_canal": 1, "restoration": 1, "implant": 0}


def test_a_crop_folder_without_its_panoramic_in_the_name_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "crops").mkdir()
    (tmp_path / "crops" / "crops.csv").write_text("file_name,split,label\nodd.jpg,test,Intact\n")
    (tmp_path / "groups.json").write_text('{"train": [], "val": [], "test": []}')
    source = validate_source(
        {
            "name": "clinic",
            "type": "crop-folder",
            "root": "crops",
            "splits": {"test": "grouped"},
            "group_pattern": r"_(test_\d+)\.jpg$",
            "split_file": "groups.json",
            "labels": {"Intact": {"caries": 0}},
        }
    )
    with pytest.raises(XrayReportError, match=r"odd\.jpg.*does not match group_pattern"):
        load_crops(source, "train", tmp_path, tmp_path, find_teeth=None)
    with pytest.raises(XrayReportError, match="'split_file' needs 'group_pattern'"):
        validate_source({"name": "x", "type": "crop-folder", "split_file": "groups.json"})


def test_image_categories_rule_restorations_and_implants_out_on_every_tooth(datasets_dir: Path) -> None:
    config, base = load_tooth_train_config(REPO / "configs" / "tooth-findings-v2.yaml")
    ufba = validate_source({**vars(next(s for s in config.sources if s.name == "ufba425")), "limit": 12})
    crops = load_crops(ufba, "val", base, datasets_dir, find_teeth=None)
    categories = {
        row.split(",")[0]: row.split(",")[1]
        for row in (datasets_dir / "ufba425" / "categories.csv").read_text().splitlines()[1:]
    }
    for crop in crops:
        category = categories[crop.scan.split("/", 1)[1]]
        if category in {"3", "4", "9", "10"}:
            assert crop.labels == {"restoration": 0, "root_canal": 0, "implant": 0}
        elif category == "5":
            assert crop.labels == {} and crop.scan_present == frozenset({"implant"})
        else:
            assert crop.labels == {"implant": 0}
    assert len({c.scan for c in crops}) == 12
