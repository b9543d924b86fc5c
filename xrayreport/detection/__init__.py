"""Detection: a radiograph in, a findings document out, with the shipped ONNX model (no torch)."""
