"""Losses for partially labelled data: a class only teaches on images whose source labels it."""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812 - the conventional alias
from torch import Tensor


def focal_heatmap_loss(predicted: Tensor, target: Tensor, class_mask: Tensor) -> Tensor:
    """CenterNet's penalty-reduced focal loss over (B, C, h, w) heatmaps, masked per (image, class).

    ``class_mask`` (B, C) is 1 where the image's source labels class C: unlabelled classes give no
    loss at all, so a finding that nobody outlined is never taught as background.
    """
    predicted = predicted.clamp(1e-4, 1 - 1e-4)
    weight = class_mask[:, :, None, None]
    positive = target.eq(1).float() * weight
    negative = (1 - target.eq(1).float()) * weight
    positive_loss = torch.log(predicted) * (1 - predicted) ** 2 * positive
    negative_loss = torch.log(1 - predicted) * predicted**2 * (1 - target) ** 4 * negative
    return -(positive_loss.sum() + negative_loss.sum()) / positive.sum().clamp(min=1.0)


def somewhere_loss(predicted: Tensor, present_mask: Tensor) -> Tensor:
    """Multiple-instance loss for an image-level "there is one somewhere": -log of the heatmap's maximum, mean
    over the (image, class) pairs of ``present_mask`` (B, C). UFBA-425's implant category says an implant is on
    the scan without a box; without this, its other scans taught "no implant" alone, and the detector learnt
    that such scans never hold one."""
    peaks = predicted.flatten(2).amax(dim=2).clamp(1e-4, 1.0)  # (B, C)
    return -(torch.log(peaks) * present_mask).sum() / present_mask.sum().clamp(min=1.0)


def gather(feature: Tensor, index: Tensor) -> Tensor:
    """Values of a (B, C, h, w) map at flat cell indices (B, K) -> (B, K, C)."""
    batch, channels = feature.shape[:2]
    flat = feature.view(batch, channels, -1)
    return flat.gather(2, index[:, None, :].expand(-1, channels, -1)).permute(0, 2, 1)


def detection_loss(
    outputs: tuple[Tensor, Tensor, Tensor, Tensor], targets: dict[str, Tensor]
) -> tuple[Tensor, dict[str, float]]:
    """Total loss and its parts: heatmap focal loss + size L1 + offset L1 + FDI cross-entropy."""
    heatmap, fdi_logits, size, offset = outputs
    mask = targets["mask"]
    objects = mask.sum().clamp(min=1.0)
    heat = focal_heatmap_loss(heatmap, targets["heatmap"], targets["class_mask"])
    somewhere = somewhere_loss(heatmap, targets["present_mask"])
    size_loss = (F.l1_loss(gather(size, targets["index"]), targets["size"], reduction="none") * mask[..., None]).sum()
    offset_loss = (
        F.l1_loss(gather(offset, targets["index"]), targets["offset"], reduction="none") * mask[..., None]
    ).sum()
    teeth = targets["fdi"] >= 0
    if teeth.any():
        logits = gather(fdi_logits, targets["index"])[teeth]
        fdi_loss = F.cross_entropy(logits, targets["fdi"][teeth], label_smoothing=0.05)
    else:
        fdi_loss = heatmap.new_zeros(())
    total = heat + somewhere + 0.5 * size_loss / objects + offset_loss / objects + fdi_loss
    parts = {
        "heatmap": float(heat.detach()),
        "somewhere": float(somewhere.detach()),
        "size": float(size_loss.detach() / objects),
        "offset": float(offset_loss.detach() / objects),
        "fdi": float(fdi_loss.detach()),
    }
    return total, parts
