"""Opening an exported model with onnxruntime, the same way for every stage (CPU, optional thread count)."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from ..errors import XrayReportError


def open_onnx_session(path: Path, threads: int | None = None) -> ort.InferenceSession:
    """An onnxruntime session on the CPU for the ``.onnx`` at ``path``; ``threads`` caps intra-op threads."""
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped exceptions
        raise XrayReportError(f"{path}: cannot load the ONNX model ({exc}); re-export or re-download it") from None
