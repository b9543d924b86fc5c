"""Start training from a shipped model: read its ONNX weights back into the torch network it was exported from.

The export folds every batch norm into the convolution before it, so those convolutions come back with a bias
and their batch norms as identities that only add it: ``conv(x) * 1 + b``. Their statistics must then stay
frozen while fine-tuning (as torchvision's detection models keep ``FrozenBatchNorm2d``):
:func:`freeze_batch_norm`. Named weights (those without a batch norm) come back by name; folded ones by the
order the network runs its convolutions, and the result is checked against onnxruntime on a random input.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from google.protobuf.message import DecodeError
from onnx import numpy_helper
from torch import Tensor, nn

from ..errors import XrayReportError
from .progress import log_progress

# Largest |torch - onnxruntime| output difference accepted once the weights are read back.
MAX_DIFFERENCE = 1e-3


def load_onnx_weights(model: nn.Module, onnx_path: str | os.PathLike[str], example: Tensor) -> float:
    """Fill ``model`` (as built for export, untrained) with the weights of ``onnx_path``.

    ``example`` is an input of the exported shape, e.g. (1, 1, 320, 640) for the detector. Returns the largest
    output difference to onnxruntime on it; raises XrayReportError when the file is not this network's export.
    """
    path = Path(onnx_path)
    try:
        graph = onnx.load(str(path)).graph
    except (OSError, ValueError, DecodeError) as exc:
        raise XrayReportError(f"{path}: cannot read it as an ONNX model ({exc.__class__.__name__})") from None
    weights = {tensor.name: numpy_helper.to_array(tensor).copy() for tensor in graph.initializer}
    # The exporter shares equal weights between layers through Identity nodes.
    for node in graph.node:
        if node.op_type == "Identity" and node.input[0] in weights:
            weights[node.output[0]] = weights[node.input[0]]
    convolutions = [node for node in graph.node if node.op_type == "Conv"]
    called = _convolutions_in_call_order(model, example)
    if len(called) != len(convolutions):
        raise XrayReportError(
            f"{path}: {len(convolutions)} convolutions, the network has {len(called)}: not an export of this network"
        )
    with torch.no_grad():
        for (conv, batch_norm), node in zip(called, convolutions, strict=True):
            if any(name not in weights for name in node.input[1:]):
                raise XrayReportError(f"{path}: a convolution computes its weights; not an export of this network")
            weight = weights[node.input[1]]
            bias = weights[node.input[2]] if len(node.input) > 2 else None
            if tuple(weight.shape) != tuple(conv.weight.shape):
                raise XrayReportError(
                    f"{path}: a convolution of shape {weight.shape} where the network has {tuple(conv.weight.shape)}"
                )
            conv.weight.copy_(torch.from_numpy(weight))
            if batch_norm is None:
                if (bias is None) != (conv.bias is None):
                    raise XrayReportError(f"{path}: a convolution's bias does not match the network's")
                if bias is not None and conv.bias is not None:
                    conv.bias.copy_(torch.from_numpy(bias))
                continue
            # The batch norm becomes "add the folded bias": scale 1, mean 0, variance 1 - eps.
            batch_norm.weight.fill_(1.0)
            batch_norm.bias.copy_(torch.from_numpy(bias) if bias is not None else torch.zeros_like(batch_norm.bias))
            assert batch_norm.running_mean is not None and batch_norm.running_var is not None
            batch_norm.running_mean.zero_()
            batch_norm.running_var.fill_(1.0 - batch_norm.eps)
        # What the export kept under its own name (the linear layers, too) comes back by name.
        parameters = dict(model.named_parameters())
        for name, value in weights.items():
            if name in parameters:
                parameters[name].copy_(torch.from_numpy(value))
    model.eval()
    difference = max_export_difference(model, path, example)
    if difference > MAX_DIFFERENCE:
        raise XrayReportError(
            f"{path}: the weights read back give outputs {difference:.2g} away from the ONNX model's; "
            "it was exported from another version of this network"
        )
    return difference


def start_from_onnx(model: nn.Module, onnx_path: str | os.PathLike[str], example: Tensor) -> None:
    """Fine-tuning's start: ``model`` gets the weights of ``onnx_path`` (see :func:`load_onnx_weights`) and keeps
    its batch norms frozen from now on."""
    load_onnx_weights(model, onnx_path, example)
    freeze_batch_norm(model)
    log_progress(f"starting from the weights of {Path(onnx_path).name} (batch norms frozen)")


def freeze_batch_norm(model: nn.Module) -> None:
    """Keep every batch norm of ``model`` in evaluation mode, also under ``model.train()``: statistics that were
    folded into the weights must not drift with small fine-tuning batches. Its scale and shift still learn."""
    original_train = model.train

    def train(mode: bool = True) -> nn.Module:
        original_train(mode)
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eval()
        return model

    model.train = train  # type: ignore[method-assign]
    model.train(model.training)


def _convolutions_in_call_order(model: nn.Module, example: Tensor) -> list[tuple[nn.Conv2d, nn.BatchNorm2d | None]]:
    """Every convolution as the forward pass calls it, with the batch norm called right after it, if any (the
    one the export folded into it)."""
    calls: list[nn.Module] = []
    hooks = [
        module.register_forward_hook(lambda module, _inputs, _output: calls.append(module))
        for module in model.modules()
        if isinstance(module, (nn.Conv2d, nn.BatchNorm2d))
    ]
    try:
        model.eval()
        with torch.no_grad():
            model(example)
    finally:
        for hook in hooks:
            hook.remove()
    pairs: list[tuple[nn.Conv2d, nn.BatchNorm2d | None]] = []
    for index, module in enumerate(calls):
        if isinstance(module, nn.Conv2d):
            following = calls[index + 1] if index + 1 < len(calls) else None
            pairs.append((module, following if isinstance(following, nn.BatchNorm2d) else None))
    return pairs


def max_export_difference(model: nn.Module, onnx_path: Path, example: Tensor) -> float:
    """Largest absolute difference between the outputs of ``model`` (as it is: put it in eval mode first) and of
    ``onnx_path`` under onnxruntime, on ``example``."""
    with torch.no_grad():
        result = model(example)
    expected = [t.numpy() for t in (result if isinstance(result, tuple) else (result,))]
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    actual = session.run(None, {session.get_inputs()[0].name: example.numpy()})
    return float(max(np.abs(np.asarray(a) - e).max() for a, e in zip(actual, expected, strict=True)))
