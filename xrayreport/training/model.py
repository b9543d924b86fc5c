"""The detector network: MobileNetV2 backbone, a light feature pyramid, CenterNet-style heads.

Written in plain torch (no torchvision) so it exports to ONNX cleanly and trains with the CPU wheel.
The backbone's parameter names match torchvision's ``mobilenet_v2`` so its ImageNet weights load
with ``strict=True``. Input: (B, 1, H, W) normalised greyscale, H and W multiples of 32. Outputs at
stride 4, shape (B, C, H/4, W/4): class heatmaps (sigmoid), FDI logits, log box size, centre offset.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F  # noqa: N812 - the conventional alias
from torch import Tensor, nn

# (expansion, output channels, repeats, first stride), as in Sandler et al. 2018 and torchvision.
_MOBILENET_V2_SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
# Indices into ``features`` after which the stride-4, 8, 16 and 32 maps are taken.
_TAPS = (3, 6, 13, 17)
_TAP_CHANNELS = (24, 32, 96, 320)


class _ConvBNReLU6(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU6(inplace=True),
        )


class _InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        self.use_residual = stride == 1 and cin == cout
        layers: list[nn.Module] = [] if expansion == 1 else [_ConvBNReLU6(cin, hidden, kernel=1)]
        layers += [
            _ConvBNReLU6(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.conv(x)
        return x + out if self.use_residual else out


class MobileNetV2Backbone(nn.Module):
    """The convolutional part of MobileNetV2 (``features[0..17]``), returning the four tapped maps."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [_ConvBNReLU6(3, 32, stride=2)]
        cin = 32
        for expansion, cout, repeats, stride in _MOBILENET_V2_SETTINGS:
            for i in range(repeats):
                layers.append(_InvertedResidual(cin, cout, stride if i == 0 else 1, expansion))
                cin = cout
        self.features = nn.Sequential(*layers)

    def load_imagenet(self, path: str | os.PathLike[str]) -> None:
        """Load torchvision's ``mobilenet_v2-b0353104.pth`` (the last 1x1 conv and classifier are unused)."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if k.startswith("features.") and not k.startswith("features.18.")}
        self.load_state_dict(state, strict=True)

    def forward(self, x: Tensor) -> list[Tensor]:
        taps = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in _TAPS:
                taps.append(x)
        return taps


class CenterNetDetector(nn.Module):
    """Backbone + top-down pyramid to stride 4 + four heads.

    ``num_classes`` heatmaps (tooth and finding classes), ``num_fdi`` tooth-number logits, 2 channels
    of log box size (width, height in stride-4 cells) and 2 of sub-cell centre offset.
    """

    def __init__(self, num_classes: int, num_fdi: int, width: int = 64) -> None:
        super().__init__()
        self.backbone = MobileNetV2Backbone()
        self.lateral = nn.ModuleList(nn.Conv2d(c, width, 1) for c in _TAP_CHANNELS)
        self.smooth = nn.Sequential(
            nn.Conv2d(width + 2, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)
        )
        self.heatmap = self._head(width, num_classes)
        self.fdi = self._head(width, num_fdi)
        self.size = self._head(width, 2)
        self.offset = self._head(width, 2)
        # Start with a low prior for objects so the focal loss does not explode early (Lin et al. 2017).
        last = self.heatmap[-1]
        assert isinstance(last, nn.Conv2d) and last.bias is not None
        nn.init.constant_(last.bias, -2.19)

    @staticmethod
    def _head(width: int, out: int) -> nn.Sequential:
        # Depthwise-separable: at stride 4 a full 3x3 conv per head would cost more than the backbone.
        return nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1, groups=width),
            nn.Conv2d(width, width, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, out, 1),
        )

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        # The ImageNet stem expects RGB; a greyscale radiograph is the same image in all three channels.
        taps = self.backbone(image.expand(-1, 3, -1, -1))
        x = self.lateral[-1](taps[-1])
        for lateral, tap in zip(reversed(self.lateral[:-1]), reversed(taps[:-1]), strict=True):
            x = F.interpolate(x, size=tap.shape[-2:], mode="nearest") + lateral(tap)
        # Where a tooth lies in the image says much about its number: give the heads the coordinates.
        batch, _, height, width = x.shape
        ys = torch.linspace(-1, 1, height, device=x.device).view(1, 1, height, 1).expand(batch, 1, height, width)
        xs = torch.linspace(-1, 1, width, device=x.device).view(1, 1, 1, width).expand(batch, 1, height, width)
        x = self.smooth(torch.cat([x, xs, ys], dim=1))
        return torch.sigmoid(self.heatmap(x)), self.fdi(x), self.size(x), self.offset(x)
