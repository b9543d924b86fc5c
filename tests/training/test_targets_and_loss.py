"""CenterNet targets from boxes, and a loss that only teaches the classes an image's source labels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from xrayreport.dentition import ALL_TEETH
from xrayreport.detection.config import OBJECT_CLASSES
from xrayreport.training.datasets import Annotation
from xrayreport.training.loss import detection_loss, focal_heatmap_loss, somewhere_loss
from xrayreport.training.targets import MAX_OBJECTS, encode


def test_a_tooth_becomes_a_peak_with_log_size_offset_and_number() -> None:
    # Input 160 x 80 at stride 4 -> 40 x 20 cells. The box spans cells x 10..15, y 5..13: 5 x 8 cells,
    # centre (12.5, 9.0), so its peak is cell (x 12, y 9) with offset (0.5, 0).
    targets = encode(
        [Annotation((40, 20, 60, 52), "tooth", "36")], frozenset({"tooth"}), OBJECT_CLASSES, ALL_TEETH, (160, 80), 4
    )
    assert targets.heatmap.shape == (5, 20, 40)
    assert targets.heatmap[0, 9, 12] == 1.0 and targets.heatmap[0].max() == 1.0
    assert targets.heatmap[1:].max() == 0.0
    # Gaussian with sigma = width / 6 = 5/6 cell: one cell to the side is exp(-1 / (2 * (5/6)^2)) = exp(-0.72).
    assert targets.heatmap[0, 9, 13] == pytest.approx(math.exp(-0.72), rel=1e-5)
    assert targets.index[0] == 9 * 40 + 12
    np.testing.assert_allclose(targets.size[0], [math.log(5), math.log(8)], rtol=1e-6)
    np.testing.assert_allclose(targets.offset[0], [0.5, 0.0])
    assert targets.fdi[0] == ALL_TEETH.index("36") == 21
    np.testing.assert_array_equal(targets.mask[:2], [1, 0])
    np.testing.assert_array_equal(targets.class_mask, [1, 0, 0, 0, 0])
    assert targets.index.shape == targets.fdi.shape == targets.mask.shape == (MAX_OBJECTS,)


def test_findings_have_no_number_and_overlapping_peaks_take_the_maximum() -> None:
    annotations = [Annotation((0, 0, 8, 8), "caries"), Annotation((4, 0, 12, 8), "caries")]
    targets = encode(annotations, frozenset({"caries", "implant"}), OBJECT_CLASSES, ALL_TEETH, (32, 32), 4)
    np.testing.assert_array_equal(targets.fdi[:3], [-1, -1, -1])
    caries = OBJECT_CLASSES.index("caries")
    assert targets.heatmap[caries, 1, 1] == targets.heatmap[caries, 1, 2] == 1.0
    assert targets.heatmap[caries].max() == 1.0
    np.testing.assert_array_equal(targets.class_mask, [0, 1, 0, 0, 1])


def test_focal_loss_by_hand_and_unlabelled_classes_contribute_nothing() -> None:
    # Class 0: a positive cell and a negative cell, both predicted 0.5. Positive: -log(0.5) * 0.5^2;
    # negative: -log(0.5) * 0.5^2 * (1 - 0)^4; one positive to normalise by: total 0.5 * log 2.
    predicted = torch.tensor([[[[0.5, 0.5]], [[0.9, 0.9]]]])  # (B=1, C=2, h=1, w=2)
    target = torch.tensor([[[[1.0, 0.0]], [[0.0, 0.0]]]])
    labelled_first = torch.tensor([[1.0, 0.0]])
    loss = focal_heatmap_loss(predicted, target, labelled_first)
    assert float(loss) == pytest.approx(0.5 * math.log(2), rel=1e-5)
    # Class 1 is not labelled by this image: whatever the network says there costs nothing...
    other = predicted.clone()
    other[0, 1] = 0.01
    assert float(focal_heatmap_loss(other, target, labelled_first)) == pytest.approx(float(loss), rel=1e-6)
    # ...and once labelled, confident background there is penalised: 2 x -log(0.1) x 0.9^2 more.
    both = focal_heatmap_loss(predicted, target, torch.tensor([[1.0, 1.0]]))
    assert float(both) == pytest.approx(0.5 * math.log(2) - 2 * math.log(0.1) * 0.81, rel=1e-4)


def batch(annotations: list[Annotation], labelled: frozenset[str]) -> dict[str, torch.Tensor]:
    targets = encode(annotations, labelled, OBJECT_CLASSES, ALL_TEETH, (64, 32), 4)
    return {key: torch.from_numpy(np.asarray(value))[None] for key, value in targets.__dict__.items()}


def outputs(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return (
        torch.rand(1, len(OBJECT_CLASSES), 8, 16, generator=generator) * 0.98 + 0.01,
        torch.randn(1, len(ALL_TEETH), 8, 16, generator=generator),
        torch.randn(1, 2, 8, 16, generator=generator),
        torch.rand(1, 2, 8, 16, generator=generator),
    )


def test_an_image_that_labels_only_caries_is_not_taught_anything_about_teeth() -> None:
    caries_only = batch([Annotation((8, 8, 16, 16), "caries")], frozenset({"caries"}))
    heatmap, fdi, size, offset = outputs(0)
    total, parts = detection_loss((heatmap, fdi, size, offset), caries_only)
    assert parts["fdi"] == 0.0  # no tooth in the targets: no numbering loss
    # The tooth channel and the FDI logits can say anything: the loss does not change.
    changed = heatmap.clone()
    changed[:, OBJECT_CLASSES.index("tooth")] = 0.99
    same, _ = detection_loss((changed, fdi * 10, size, offset), caries_only)
    assert float(same) == pytest.approx(float(total), rel=1e-6)
    # The same prediction on an image that labels teeth (and has none here) is penalised.
    teeth_too = batch([Annotation((8, 8, 16, 16), "caries")], frozenset({"caries", "tooth"}))
    assert float(detection_loss((changed, fdi, size, offset), teeth_too)[0]) > float(total) + 1.0


def test_size_and_offset_are_learnt_only_at_object_centres() -> None:
    tooth = batch([Annotation((8, 8, 16, 24), "tooth", "11")], frozenset({"tooth"}))
    heatmap, fdi, size, offset = outputs(1)
    total, parts = detection_loss((heatmap, fdi, size, offset), tooth)
    # Box 2 x 4 cells centred at (3, 4): cell (3, 4), log sizes (log 2, log 4), offset (0, 0).
    expected_size = abs(float(size[0, 0, 4, 3]) - math.log(2)) + abs(float(size[0, 1, 4, 3]) - math.log(4))
    assert parts["size"] == pytest.approx(expected_size, rel=1e-5)
    assert parts["offset"] == pytest.approx(float(offset[0, :, 4, 3].sum()), rel=1e-5)
    elsewhere = size.clone()
    elsewhere[..., 0, :] = 100.0  # row 0 holds no object
    assert float(detection_loss((heatmap, fdi, elsewhere, offset), tooth)[0]) == pytest.approx(float(total))
    assert parts["fdi"] > 0.0


def test_a_class_said_to_be_somewhere_wants_one_peak_anywhere() -> None:
    heatmap = torch.full((2, len(OBJECT_CLASSES), 8, 16), 0.01)
    implant = OBJECT_CLASSES.index("implant")
    heatmap[0, implant, 3, 5] = 0.5  # image 0: one cell says implant at 0.5
    present = torch.zeros(2, len(OBJECT_CLASSES))
    present[:, implant] = 1.0  # both images hold an implant somewhere, unboxed
    # -(log 0.5 + log 0.01) / 2: where the peak stands does not matter, only how high the highest is.
    assert float(somewhere_loss(heatmap, present)) == pytest.approx(-(math.log(0.5) + math.log(0.01)) / 2, rel=1e-5)
    assert float(somewhere_loss(heatmap, torch.zeros_like(present))) == 0.0
    # encode: a class with boxes is taught by them, not by its image-level label.
    targets = encode([], frozenset({"tooth"}), OBJECT_CLASSES, ALL_TEETH, (64, 32), 4, frozenset({"implant", "tooth"}))
    assert targets.present_mask.tolist() == [1.0 if c == "implant" else 0.0 for c in OBJECT_CLASSES]
